package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.ModuleDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.LinkedHashSet;
import java.util.random.RandomGenerator;

/**
 * LoRA on anything linear: y = base(x) + Σ_adapters scaling·B·A·dropout(x), with A [r, in] and B [out, r].
 * Children are named as in Peft ({@code base_layer}, {@code lora_A.<adapter>}, {@code lora_B.<adapter>}),
 * so parameter paths read {@code q_proj.lora_A.default.weight} as in a Peft model's state dict. Subclasses
 * differ only in how the base stores its weight, which is all that merging needs to know.
 */
public abstract sealed class LoraLinearBase<B extends LinearLayer> extends LinearLayer implements LoraLayer
        permits LoraLinear, LoraConv1D {
    private final Slot<B> base;
    private final ModuleDict<Linear> loraA;
    private final ModuleDict<Linear> loraB;
    private final AdapterSet adapters = new AdapterSet();
    private final long dropoutSeed;
    private long forwardCalls;

    protected LoraLinearBase(B base, long dropoutSeed) {
        this.base = register("base_layer", base);
        this.loraA = register("lora_A", new ModuleDict<Linear>()).get();
        this.loraB = register("lora_B", new ModuleDict<Linear>()).get();
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

    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        int in = inFeatures(), out = outFeatures(), r = config.r();
        Tensor a = switch (config.initLoraWeights()) {
            case KAIMING, RANDOM -> Init.kaimingUniform(rnd, r, in);
            case GAUSSIAN -> Init.normal(rnd, (float) (1 / (double) r), r, in);
        };
        Tensor b = config.initLoraWeights() == LoraConfig.Init.RANDOM
            ? Init.kaimingUniform(rnd, out, r) : Tensor.zeros(out, r);
        loraA.put(name, new Linear(Variable.parameter(a), null));
        loraB.put(name, new Linear(Variable.parameter(b), null));
        adapters.add(name, config);
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        loraA.remove(name);
        loraB.remove(name);
    }

    @Override
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(adapters.names());
    }

    @Override
    public void setActiveAdapters(List<String> names) {
        adapters.setActive(names);
    }

    @Override
    public List<String> activeAdapters() {
        return adapters.active();
    }

    @Override
    public void setDisabled(boolean disabled) {
        if (disabled && !adapters.merged().isEmpty()) unmerge();
        adapters.setDisabled(disabled);
    }

    @Override
    public Variable forward(Variable x) {
        long call = forwardCalls++;
        List<String> active = adapters.unmergedActive();
        if (active.isEmpty()) return base.get().forward(x);
        // One fused op for the base and every active branch: a single [tokens, out] output, and per branch only
        // the thin scaling·x·Aᵀ [tokens, r] kept for the backward (see Ops.loraLinear).
        List<Ops.LoraBranch> branches = new java.util.ArrayList<>(active.size());
        for (String name : active) {
            AdapterSet.Settings s = adapters.require(name);
            Variable in = training() && s.dropout() > 0 ? Ops.dropout(x, s.dropout(), dropoutSeed * 31 + call) : x;
            branches.add(new Ops.LoraBranch(in, loraA.at(name).weight(), loraB.at(name).weight(), s.scaling()));
        }
        return Ops.loraLinear(x, baseWeight(), baseBias(), baseWeightInOut(), branches);
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
        adapters.merge(names, baseWeight().data(), this::deltaWeight);
    }

    @Override
    public void unmerge() {
        adapters.unmerge(baseWeight().data(), this::deltaWeight);
    }

    @Override
    public List<String> mergedAdapters() {
        return adapters.merged();
    }

    @Override
    public Map<String, Variable> adapterParameters(String name) {
        adapters.require(name);
        Map<String, Variable> m = new LinkedHashMap<>();
        m.put("lora_A.weight", loraA.at(name).weight());
        m.put("lora_B.weight", loraB.at(name).weight());
        return m;
    }

    @Override
    public float scaling(String name) {
        return adapters.require(name).scaling();
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
