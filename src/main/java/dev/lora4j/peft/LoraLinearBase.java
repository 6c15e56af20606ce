package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.ModuleDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * LoRA on anything linear: y = base(x) + Σ_adapters scaling·B·A·dropout(x), with A [r, in] and B [out, r].
 * Children are named as in Peft ({@code base_layer}, {@code lora_A.<adapter>}, {@code lora_B.<adapter>},
 * {@code lora_magnitude_vector.<adapter>} for DoRA), so parameter paths read {@code q_proj.lora_A.default.weight}
 * as in a Peft model's state dict. Subclasses differ only in how the base stores its weight, which is all that
 * merging, DoRA's row norms and PiSSA's SVD need to know.
 *
 * <p>A DoRA adapter computes, as Peft's DoraLinearLayer does, y = base(x) + (g − 1)⊙(W·x') + g⊙scaling·B·A·x'
 * with x' = dropout(x), g = m / ‖W + scaling·B·A‖ per output row, and the norm treated as a constant in
 * backward (DoRA paper §4.3): m and the LoRA branch get gradients, the norm does not.
 */
public abstract sealed class LoraLinearBase<B extends LinearLayer> extends LinearLayer implements LoraLayer, dev.lora4j.nn.Stochastic
        permits LoraLinear, LoraConv1D {
    private final Slot<B> base;
    private final ModuleDict<Linear> loraA;
    private final ModuleDict<Linear> loraB;
    private final ModuleDict<DoraMagnitude> loraMagnitude;
    /** PiSSA adapters' A and B at initialisation: saving subtracts them to give a LoRA on the original base. */
    private final Map<String, Pissa.Factors> pissaInitial = new LinkedHashMap<>();
    /** DoRA norms at merge time, which unmerge divides by again (Peft caches them the same way). */
    private final Map<String, float[]> mergedNorms = new LinkedHashMap<>();
    /** Norms pinned by {@link #holdDoraNorms} (gradient checks only), else recomputed on every forward. */
    private final Map<String, float[]> heldNorms = new LinkedHashMap<>();
    private final AdapterSet adapters = new AdapterSet();

    @Override
    public AdapterSet adapterSet() {
        return adapters;
    }
    private final long dropoutSeed;
    private long forwardCalls;

    protected LoraLinearBase(B base, long dropoutSeed) {
        this.base = register("base_layer", base);
        this.loraA = register("lora_A", new ModuleDict<Linear>()).get();
        this.loraB = register("lora_B", new ModuleDict<Linear>()).get();
        this.loraMagnitude = register("lora_magnitude_vector", new ModuleDict<DoraMagnitude>()).get();
        this.dropoutSeed = dropoutSeed;
    }

    @Override
    public B baseLayer() {
        return base.get();
    }

    /** The base layer's weight, in its own layout. */
    protected abstract Variable baseWeight();

    /** scaling·B·A, given as {@code ba} [out, in], arranged in the base weight's layout. */
    protected abstract Tensor arrange(float[] ba, int out, int in, float scaling);

    /** The base weight as [out, in]; may be the weight's own array, so callers must not write to it. */
    protected abstract float[] weightOutIn();

    /** The base layer's product W·x without its bias (DoRA rescales that part only). */
    protected abstract Variable baseWithoutBias(Variable x);

    /** Multiplies (or divides) every weight of output o by factor[o], in the base weight's layout. */
    protected abstract void scaleOutputs(float[] weight, float[] factor, boolean divide);

    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        int in = inFeatures(), out = outFeatures(), r = config.r();
        Tensor a, b;
        switch (config.initLoraWeights()) {
            case KAIMING -> { a = Init.kaimingUniform(rnd, r, in); b = Tensor.zeros(out, r); }
            case GAUSSIAN -> { a = Init.normal(rnd, (float) (1 / (double) r), r, in); b = Tensor.zeros(out, r); }
            case RANDOM -> { a = Init.kaimingUniform(rnd, r, in); b = Init.kaimingUniform(rnd, out, r); }
            case PISSA -> {
                if (config.useDora()) throw new IllegalArgumentException("PiSSA with DoRA is not supported: choose one");
                Pissa.Factors f = Pissa.factor(weightOutIn(), out, in, r, config.scaling());
                a = Tensor.of(f.a().clone(), r, in);
                b = Tensor.of(f.b().clone(), out, r);
                pissaInitial.put(name, f);
            }
            default -> throw new IllegalStateException("unreachable");
        }
        loraA.put(name, new Linear(Variable.parameter(a), null));
        loraB.put(name, new Linear(Variable.parameter(b), null));
        adapters.add(name, config);
        // The base gives its principal part to the adapter: base + scaling·B·A is the original W again.
        if (config.initLoraWeights() == LoraConfig.Init.PISSA) {
            VectorMath.axpy(-1f, deltaWeight(name).data(), 0, baseWeight().data(), 0, baseWeight().size());
        }
        if (config.useDora()) loraMagnitude.put(name, new DoraMagnitude(weightNorms(name)));
    }

    /** ‖W + scaling·B·A‖ per output row, for the current base weight and adapter. */
    private float[] weightNorms(String name) {
        int out = outFeatures(), in = inFeatures();
        return DoraMagnitude.rowNorms(weightOutIn(), scaledBaOutIn(name), out, in);
    }

    /** scaling·B·A as [out, in]. */
    private float[] scaledBaOutIn(String name) {
        float scaling = adapters.require(name).scaling();
        Tensor a = loraA.at(name).weight().value(), b = loraB.at(name).weight().value();
        int out = outFeatures(), in = inFeatures(), r = a.shape().dim(0);
        float[] ba = new float[out * in];
        Gemm.nn(out, in, r, b.data(), a.data(), ba, false);
        VectorMath.scale(ba, scaling, ba.length);
        return ba;
    }

    /**
     * Pins a DoRA adapter's norms at their current value (or unpins them with false). Backward treats the norm as
     * a constant; a finite-difference check of that gradient must hold it constant too, which this does.
     */
    void holdDoraNorms(String name, boolean hold) {
        if (hold) heldNorms.put(name, weightNorms(name));
        else heldNorms.remove(name);
    }

    /** PiSSA's A and B at initialisation, or null for an adapter initialised otherwise. */
    Pissa.Factors pissaInitial(String name) {
        adapters.require(name);
        return pissaInitial.get(name);
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        loraA.remove(name);
        loraB.remove(name);
        loraMagnitude.remove(name);
        pissaInitial.remove(name);
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
        long call = forwardCalls++;
        List<String> active = adapters.unmergedActive();
        if (active.isEmpty()) return base.get().forward(x);
        // One fused op for the base and every active branch: a single [tokens, out] output, and per branch only
        // the thin scaling·x·Aᵀ [tokens, r] kept for the backward (see Ops.loraLinear).
        List<Ops.LoraBranch> branches = new java.util.ArrayList<>(active.size());
        java.util.Map<String, Variable> doraInputs = new java.util.LinkedHashMap<>();
        for (String name : active) {
            AdapterSet.Settings s = adapters.require(name);
            Variable in = training() && s.dropout() > 0 ? Ops.dropout(x, s.dropout(), dropoutSeed * 31 + call) : x;
            if (s.dora()) doraInputs.put(name, in);
            else branches.add(new Ops.LoraBranch(in, loraA.at(name).weight(), loraB.at(name).weight(), s.scaling()));
        }
        Variable y = Ops.loraLinear(x, baseWeight(), baseBias(), baseWeightInOut(), branches);
        for (var e : doraInputs.entrySet()) {
            String name = e.getKey();
            Variable in = e.getValue();
            float scaling = adapters.require(name).scaling();
            Variable lora = loraB.at(name).forward(loraA.at(name).forward(in));
            // DoRA: y += g⊙(W·x' + scaling·lora) − W·x', g = m/‖W + scaling·B·A‖ with the norm a constant.
            float[] norms = heldNorms.containsKey(name) ? heldNorms.get(name) : weightNorms(name);
            float[] inverse = new float[norms.length];
            for (int o = 0; o < norms.length; o++) inverse[o] = 1f / norms[o];
            Variable g = Ops.mul(loraMagnitude.at(name).weight(), Variable.constant(Tensor.of(inverse, inverse.length)));
            Variable wx = baseWithoutBias(in);
            Variable directed = Ops.scaleColumns(Ops.addScaled(wx, lora, scaling), g);
            y = Ops.addScaled(Ops.add(y, directed), wx, -1f);
        }
        return y;
    }

    /** The base layer's bias, or null. */
    protected abstract Variable baseBias();

    /** Whether the base weight is stored [in, out] (Conv1D) rather than [out, in]. */
    protected abstract boolean baseWeightInOut();

    @Override
    public Tensor deltaWeight(String name) {
        float scaling = adapters.require(name).scaling();
        Tensor a = loraA.at(name).weight().value(), b = loraB.at(name).weight().value();
        int out = outFeatures(), in = inFeatures(), r = a.shape().dim(0);
        float[] ba = new float[out * in];
        Gemm.nn(out, in, r, b.data(), a.data(), ba, false);
        return arrange(ba, out, in, scaling);
    }

    @Override
    public void merge(List<String> names) {
        adapters.merge(names, baseWeight().data(), weightMerge);
    }

    @Override
    public void unmerge() {
        adapters.unmerge(baseWeight().data(), weightMerge);
    }

    /**
     * LoRA adds its delta. DoRA (as Peft's merge): W ← (m / ‖W + Δ‖) ⊙ (W + Δ) per output row, and unmerge
     * W ← W / (m / n) − Δ with the norm n cached at merge time.
     */
    private final AdapterSet.WeightMerge weightMerge = new AdapterSet.WeightMerge() {
        private final AdapterSet.WeightMerge additive = AdapterSet.additive(LoraLinearBase.this::deltaWeight);

        @Override
        public void merge(String name, float[] weight) {
            if (!adapters.require(name).dora()) {
                additive.merge(name, weight);
                return;
            }
            float[] norms = weightNorms(name);
            additive.merge(name, weight);
            scaleOutputs(weight, doraFactor(name, norms), false);
            mergedNorms.put(name, norms);
        }

        @Override
        public void unmerge(String name, float[] weight) {
            if (!adapters.require(name).dora()) {
                additive.unmerge(name, weight);
                return;
            }
            scaleOutputs(weight, doraFactor(name, mergedNorms.remove(name)), true);
            additive.unmerge(name, weight);
        }
    };

    private float[] doraFactor(String name, float[] norms) {
        float[] m = loraMagnitude.at(name).weight().data(), f = new float[norms.length];
        for (int o = 0; o < f.length; o++) f[o] = m[o] / norms[o];
        return f;
    }

    @Override
    public Map<String, Variable> adapterParameters(String name) {
        adapters.require(name);
        Map<String, Variable> m = new LinkedHashMap<>();
        m.put("lora_A.weight", loraA.at(name).weight());
        m.put("lora_B.weight", loraB.at(name).weight());
        // Peft saves DoRA's magnitude without ".weight" (its state-dict format predates DoraLinearLayer).
        if (adapters.require(name).dora()) m.put("lora_magnitude_vector", loraMagnitude.at(name).weight());
        return m;
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
