package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.ParameterDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * AdaLoRA on a linear layer (Peft's adalora.SVDLinear): the update is P·Λ·Q in SVD form, stored as
 * {@code lora_A} = Q [r, in] (right singular vectors), {@code lora_E} = Λ [r, 1] (singular values) and
 * {@code lora_B} = P [out, r] (left singular vectors): y = base(x) + (x·(A∘E)ᵀ·Bᵀ)·alpha/(ranknum + 1e-5).
 * ranknum is the initial rank init_r and stays so when triplets are pruned (Peft keeps the scaling unchanged),
 * so pruning a triplet means setting its E to zero, and masked triplets can come back while E still trains.
 * A and B start N(0, 0.02²) and E at zero, so training starts exactly at the base model.
 */
public final class AdaLoraLinear extends LinearLayer implements LoraLayer, dev.lora4j.nn.Stochastic {
    /** Peft adds this to ranknum in the scaling. */
    private static final float RANKNUM_EPS = 1e-5f;

    private final Slot<LinearLayer> base;
    private final ParameterDict loraA, loraB, loraE;
    private final Map<String, Float> ranknum = new LinkedHashMap<>();
    private final AdapterSet adapters = new AdapterSet();

    @Override
    public AdapterSet adapterSet() {
        return adapters;
    }
    private final long dropoutSeed;
    private long forwardCalls;

    public AdaLoraLinear(LinearLayer base, long dropoutSeed) {
        if (!(base instanceof Linear || base instanceof Conv1D)) throw new IllegalArgumentException("AdaLoRA wraps Linear or Conv1D, got " + base.getClass());
        this.base = register("base_layer", base);
        this.loraA = register("lora_A", new ParameterDict()).get();
        this.loraB = register("lora_B", new ParameterDict()).get();
        this.loraE = register("lora_E", new ParameterDict()).get();
        this.dropoutSeed = dropoutSeed;
    }

    @Override
    public LinearLayer baseLayer() {
        return base.get();
    }

    /** {@code config.r()} is init_r; the scaling is alpha (r when alpha is 0) over ranknum, as Peft's update_layer. */
    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        int r = config.r(), in = inFeatures(), out = outFeatures();
        loraA.put(name, Variable.parameter(dev.lora4j.nn.Init.normal(rnd, 0.02f, r, in)));
        loraB.put(name, Variable.parameter(dev.lora4j.nn.Init.normal(rnd, 0.02f, out, r)));
        loraE.put(name, Variable.parameter(Tensor.zeros(r, 1)));
        ranknum.put(name, (float) r);
        float alpha = config.loraAlpha() > 0 ? config.loraAlpha() : r;
        adapters.add(name, new AdapterSet.Settings(r, alpha / (r + RANKNUM_EPS), config.loraDropout(), false));
    }

    /**
     * Keeps only the triplets {@code keep} marks (Peft's resize_modules_by_rank_pattern, used when loading a saved
     * AdaLoRA adapter whose tensors hold only the kept triplets). ranknum, and so the scaling, does not change.
     */
    void resize(String name, boolean[] keep) {
        Variable a = loraA.at(name), b = loraB.at(name), e = loraE.at(name);
        loraA.put(name, new Variable(keepTriplets(a.value(), false, keep), a.requiresGrad()));
        loraB.put(name, new Variable(keepTriplets(b.value(), true, keep), b.requiresGrad()));
        loraE.put(name, new Variable(keepTriplets(e.value(), false, keep), e.requiresGrad()));
    }

    /** The rows of A/E [r, n] (or columns of B [out, r], {@code columns}) that {@code keep} marks. */
    static Tensor keepTriplets(Tensor t, boolean columns, boolean[] keep) {
        int rows = t.shape().dim(0), cols = t.shape().dim(1);
        int r = columns ? cols : rows, k = 0;
        if (keep.length != r) throw new IllegalArgumentException("rank pattern of length " + keep.length + " for rank " + r);
        for (boolean x : keep) if (x) k++;
        float[] d = t.data(), out = new float[(columns ? rows : cols) * k];
        int j = 0;
        for (int i = 0; i < r; i++) {
            if (!keep[i]) continue;
            if (columns) for (int o = 0; o < rows; o++) out[o * k + j] = d[o * cols + i];
            else System.arraycopy(d, i * cols, out, j * cols, cols);
            j++;
        }
        return columns ? Tensor.of(out, rows, k) : Tensor.of(out, k, cols);
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        loraA.remove(name);
        loraB.remove(name);
        loraE.remove(name);
        ranknum.remove(name);
    }

    /** The dropout draw counter: which mask the next forward's dropout uses (see {@link dev.lora4j.nn.Stochastic}). */
    @Override
    public long randomState() {
        return forwardCalls;
    }

    @Override
    public void restoreRandomState(long state) {
        forwardCalls = state;
    }

    @Override
    public Variable forward(Variable x) {
        Variable y = base.get().forward(x);
        long call = forwardCalls++;
        for (String name : adapters.unmergedActive()) {
            AdapterSet.Settings s = adapters.require(name);
            if (loraE.at(name).size() == 0) continue;
            Variable in = training() && s.dropout() > 0 ? Ops.dropout(x, s.dropout(), dropoutSeed * 31 + call) : x;
            Variable ae = Ops.scaleRows(loraA.at(name), loraE.at(name));
            Variable h = Ops.linear(in, ae, null);
            y = Ops.addScaled(y, Ops.linear(h, loraB.at(name), null), s.scaling());
        }
        return y;
    }

    /** scaling·B·(A∘E) in the base weight's layout ([out, in] for Linear, [in, out] for Conv1D). */
    @Override
    public Tensor deltaWeight(String name) {
        float scaling = adapters.require(name).scaling();
        float[] a = loraA.at(name).data(), b = loraB.at(name).data(), e = loraE.at(name).data();
        int out = outFeatures(), in = inFeatures(), r = e.length;
        float[] ae = new float[r * in];
        for (int i = 0; i < r; i++) for (int c = 0; c < in; c++) ae[i * in + c] = a[i * in + c] * e[i];
        float[] ba = new float[out * in];
        if (r > 0) Gemm.nn(out, in, r, b, ae, ba, false);
        if (base.get() instanceof Conv1D) {
            float[] t = new float[in * out];
            for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) t[i * out + o] = scaling * ba[o * in + i];
            return Tensor.of(t, in, out);
        }
        for (int i = 0; i < ba.length; i++) ba[i] *= scaling;
        return Tensor.of(ba, out, in);
    }

    private Variable baseWeight() {
        return base.get() instanceof Conv1D c ? c.weight() : ((Linear) base.get()).weight();
    }

    @Override
    public void merge(List<String> names) {
        adapters.merge(names, baseWeight().data(), this::deltaWeight);
    }

    @Override
    public void unmerge() {
        adapters.unmerge(baseWeight().data(), this::deltaWeight);
    }

    /** Peft's AdaLoRA keys: {@code lora_A}, {@code lora_B}, {@code lora_E} (ParameterDict entries, no ".weight"). */
    @Override
    public Map<String, Variable> adapterParameters(String name) {
        adapters.require(name);
        Map<String, Variable> m = new LinkedHashMap<>();
        m.put("lora_A", loraA.at(name));
        m.put("lora_B", loraB.at(name));
        m.put("lora_E", loraE.at(name));
        return m;
    }

    /** The rank the scaling divides by (init_r; Peft's ranknum, not saved in the adapter file). */
    public float ranknum(String name) {
        adapters.require(name);
        return ranknum.get(name);
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
