package dev.lora4j.peft;

import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.SegmentedLowRank;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Slot;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * A frozen linear layer (Linear or GPT-2's Conv1D) that serves many LoRA adapters at once, for inference only:
 * y = base(x) for all rows in one GEMM, then for each row segment of the batch in flight, y[rows] +=
 * scaling·B·A·x[rows] with that segment's adapter ({@link SegmentedLowRank}). The adapters' weights are not
 * stored here but in each {@link ServedAdapter}, by this layer's {@link #slot()}, so adapters of any rank and
 * any set of target modules sit side by side and come and go without touching the model.
 *
 * <p>Unlike {@link LoraLinearBase} (training: named adapters, one active, gradients), this layer never records
 * a gradient and learns which rows use which adapter from the model's current {@link AdapterSegments}.
 */
public final class MultiAdapterLinear extends LinearLayer {
    private final Slot<LinearLayer> base;
    private final int slot;
    private final Supplier<AdapterSegments> segments;

    MultiAdapterLinear(LinearLayer base, int slot, Supplier<AdapterSegments> segments) {
        if (!(base instanceof Linear || base instanceof Conv1D)) {
            throw new IllegalArgumentException("MultiAdapterLinear wraps a Linear or Conv1D, not " + base.getClass().getSimpleName());
        }
        this.base = register("base_layer", base);
        this.slot = slot;
        this.segments = segments;
    }

    public LinearLayer baseLayer() {
        return base.get();
    }

    /** This layer's index into every {@link ServedAdapter}'s weight arrays. */
    public int slot() {
        return slot;
    }

    @Override
    public Variable forward(Variable x) {
        Variable y = base.get().forward(x);
        AdapterSegments current = segments.get();
        if (current == null || current.segments().isEmpty()) return y;
        int rows = x.shape().rows();
        if (current.rows() != rows) {
            throw new IllegalStateException("adapter segments describe " + current.rows() + " rows, this forward has " + rows);
        }
        if (Tape.current().recording()) throw new IllegalStateException("multi-adapter layers serve inference only; run under Tape.noGrad()");
        List<AdapterSegments.Segment> mine = new ArrayList<>();
        for (AdapterSegments.Segment s : current.segments()) if (s.adapter().touches(slot)) mine.add(s);
        int n = mine.size();
        if (n == 0) return y;
        int[] starts = new int[n], ends = new int[n], ranks = new int[n];
        float[][] a = new float[n][], b = new float[n][];
        float[] scales = new float[n];
        for (int i = 0; i < n; i++) {
            AdapterSegments.Segment s = mine.get(i);
            starts[i] = s.start();
            ends[i] = s.end();
            a[i] = s.adapter().a()[slot];
            b[i] = s.adapter().b()[slot];
            ranks[i] = s.adapter().rank();
            scales[i] = s.adapter().scaling();
        }
        // y is this forward's own output buffer (no tape), so adding into it in place is safe.
        SegmentedLowRank.addTo(x.data(), inFeatures(), y.data(), outFeatures(), starts, ends, a, b, ranks, scales);
        return y;
    }

    /**
     * W += sign·scaling·B·A in the base weight's layout (Linear [out, in], Conv1D [in, out]): merging an adapter
     * for the one-at-a-time way of serving, and taking it out again with sign −1.
     */
    void addDelta(ServedAdapter adapter, float sign) {
        if (!adapter.touches(slot)) return;
        int out = outFeatures(), in = inFeatures();
        float[] ba = new float[out * in];
        Gemm.nn(out, in, adapter.rank(), adapter.b()[slot], adapter.a()[slot], ba, false);
        float s = sign * adapter.scaling();
        switch (base.get()) {
            case Linear l -> VectorMath.axpy(s, ba, 0, l.weight().data(), 0, ba.length);
            case Conv1D c -> {
                float[] w = c.weight().data();
                for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) w[i * out + o] += s * ba[o * in + i];
            }
            default -> throw new IllegalStateException("unreachable");
        }
    }

    @Override
    public int inFeatures() {
        return base.get().inFeatures();
    }

    @Override
    public int outFeatures() {
        return base.get().outFeatures();
    }
}
