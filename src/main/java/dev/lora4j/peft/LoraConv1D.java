package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.ModuleDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * LoRA on a transformers Conv1D (GPT-2's c_attn, c_proj, c_fc), which is Peft's lora.Linear with
 * fan_in_fan_out=True: the branch is the same as {@link LoraLinear}'s, y = base(x) + scaling·B·A·dropout(x) with
 * A [r, in] and B [out, r] (so adapter keys and shapes are those of a Linear target), and only the merge differs:
 * the base weight is stored [in, out], so W += scaling·(B·A)ᵀ.
 *
 * <p>A separate class rather than a generalised {@link LoraLinear} because LoraLinear's {@code baseLayer()}
 * returns {@link Linear} (callers read its weight), and the wrapped module must be the Conv1D itself so that
 * unloading puts it back; the two share {@link AdapterSet} and differ only where the weight layout matters.
 */
public final class LoraConv1D extends LinearLayer implements LoraLayer {
    private final Slot<Conv1D> base;
    private final ModuleDict<Linear> loraA;
    private final ModuleDict<Linear> loraB;
    private final AdapterSet adapters = new AdapterSet();
    private final long dropoutSeed;
    private long forwardCalls;

    public LoraConv1D(Conv1D base, long dropoutSeed) {
        this.base = register("base_layer", base);
        this.loraA = register("lora_A", new ModuleDict<Linear>()).get();
        this.loraB = register("lora_B", new ModuleDict<Linear>()).get();
        this.dropoutSeed = dropoutSeed;
    }

    @Override
    public Conv1D baseLayer() {
        return base.get();
    }

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
        Variable y = base.get().forward(x);
        long call = forwardCalls++;
        for (String name : adapters.unmergedActive()) {
            AdapterSet.Settings s = adapters.require(name);
            Variable in = training() && s.dropout() > 0 ? Ops.dropout(x, s.dropout(), dropoutSeed * 31 + call) : x;
            Variable h = loraA.at(name).forward(in);
            y = Ops.addScaled(y, loraB.at(name).forward(h), s.scaling());
        }
        return y;
    }

    /** scaling·(B·A)ᵀ, [in, out]: the Conv1D weight's layout. */
    @Override
    public Tensor deltaWeight(String name) {
        float scaling = adapters.require(name).scaling();
        Tensor a = loraA.at(name).weight().value(), b = loraB.at(name).weight().value();
        int out = outFeatures(), in = inFeatures(), r = a.shape().dim(0);
        float[] ba = new float[out * in];
        Gemm.nn(out, in, r, b.data(), a.data(), ba, false);
        float[] delta = new float[in * out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) delta[i * out + o] = scaling * ba[o * in + i];
        }
        return Tensor.of(delta, in, out);
    }

    @Override
    public void merge(List<String> names) {
        float[] w = baseLayer().weight().data();
        for (String name : names) {
            if (adapters.merged().contains(name)) continue;
            VectorMath.axpy(1f, deltaWeight(name).data(), 0, w, 0, w.length);
            adapters.markMerged(name);
        }
    }

    @Override
    public void unmerge() {
        float[] w = baseLayer().weight().data();
        for (String name : adapters.takeMergedNewestFirst()) {
            VectorMath.axpy(-1f, deltaWeight(name).data(), 0, w, 0, w.length);
        }
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
        return baseLayer().inFeatures();
    }

    @Override
    public int outFeatures() {
        return baseLayer().outFeatures();
    }
}
