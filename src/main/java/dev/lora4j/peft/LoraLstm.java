package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.Lstm;
import dev.lora4j.nn.LstmLayer;
import dev.lora4j.nn.ModuleDict;
import dev.lora4j.nn.ParameterDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * LoRA on an LSTM (lora4j's own: Peft has no LSTM layer): every weight matrix of every layer and direction,
 * {@code weight_ih_l{k}[_reverse]} [4h, in] and {@code weight_hh_l{k}[_reverse]} [4h, h], gets its own pair
 * A [r, in] (Kaiming-uniform) and B [4h, r] (zero), and the LSTM runs with W + scaling·B·A. Adapter keys follow
 * the module path as if each matrix were a linear layer: {@code <lstm path>.weight_ih_l0.lora_A.weight},
 * {@code <lstm path>.weight_ih_l0.lora_B.weight}.
 *
 * <p>The update is added to the weight (a [4h, in] product per matrix per forward, small next to the
 * recurrence) rather than run as a side branch, because the hidden-to-hidden product sits inside the time loop.
 * For the same reason lora_dropout does not apply here (as Peft does not apply it to embeddings).
 */
public final class LoraLstm extends LstmLayer implements LoraLayer {
    private final Slot<Lstm> base;
    private final ModuleDict<ParameterDict> loraA;
    private final ModuleDict<ParameterDict> loraB;
    private final AdapterSet adapters = new AdapterSet();

    @Override
    public AdapterSet adapterSet() {
        return adapters;
    }

    public LoraLstm(Lstm base) {
        this.base = register("base_layer", base);
        this.loraA = register("lora_A", new ModuleDict<ParameterDict>()).get();
        this.loraB = register("lora_B", new ModuleDict<ParameterDict>()).get();
    }

    @Override
    public Lstm baseLayer() {
        return base.get();
    }

    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        if (config.useDora() || config.initLoraWeights() == LoraConfig.Init.PISSA) {
            throw new IllegalArgumentException("LSTM layers take plain LoRA only (no DoRA, no PiSSA init yet); "
                + "leave them out of target_modules");
        }
        int r = config.r();
        ParameterDict a = new ParameterDict(), b = new ParameterDict();
        for (String w : baseLayer().weightNames()) {
            int[] shape = baseLayer().expectedShape(w);
            int out = shape[0], in = shape[1];
            Tensor at = switch (config.initLoraWeights()) {
                case KAIMING, RANDOM -> Init.kaimingUniform(rnd, r, in);
                case GAUSSIAN -> Init.normal(rnd, 1f / r, r, in);
                case PISSA -> throw new IllegalStateException("unreachable: rejected above");
            };
            Tensor bt = config.initLoraWeights() == LoraConfig.Init.RANDOM ? Init.kaimingUniform(rnd, out, r) : Tensor.zeros(out, r);
            a.put(w, Variable.parameter(at));
            b.put(w, Variable.parameter(bt));
        }
        loraA.put(name, a);
        loraB.put(name, b);
        adapters.add(name, config);
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        loraA.remove(name);
        loraB.remove(name);
    }

    @Override
    public Variable forward(Variable x) {
        List<String> live = adapters.unmergedActive();
        if (live.isEmpty()) return baseLayer().forward(x);
        Map<String, Variable> effective = new LinkedHashMap<>();
        for (String w : baseLayer().weightNames()) {
            Variable v = baseLayer().parameter(w);
            // B·A as the product of B [4h, r] with A [r, in] read as an [in=r, out=in] weight: differentiable in both.
            for (String name : live) v = Ops.addScaled(v, Ops.linearInOut(loraB.at(name).at(w), loraA.at(name).at(w), null), adapters.require(name).scaling());
            effective.put(w, v);
        }
        return baseLayer().forward(x, p -> effective.containsKey(p) ? effective.get(p) : baseLayer().parameter(p));
    }

    /** Not one weight but several: use {@link #deltaWeight(String, String)}; this returns them side by side, flattened. */
    @Override
    public Tensor deltaWeight(String name) {
        List<Tensor> parts = baseLayer().weightNames().stream().map(w -> deltaWeight(name, w)).toList();
        int total = parts.stream().mapToInt(Tensor::size).sum(), at = 0;
        float[] all = new float[total];
        for (Tensor t : parts) {
            System.arraycopy(t.data(), 0, all, at, t.size());
            at += t.size();
        }
        return Tensor.of(all, total);
    }

    /** scaling·B·A for one matrix ({@code weight_hh_l0} ...), [4h, in] like the matrix. */
    public Tensor deltaWeight(String name, String matrix) {
        float scaling = adapters.require(name).scaling();
        Tensor a = loraA.at(name).at(matrix).value(), b = loraB.at(name).at(matrix).value();
        int out = b.shape().dim(0), r = a.shape().dim(0), in = a.shape().dim(1);
        float[] delta = new float[out * in];
        Gemm.nn(out, in, r, b.data(), a.data(), delta, false);
        VectorMath.scale(delta, scaling, delta.length);
        return Tensor.of(delta, out, in);
    }

    @Override
    public void merge(List<String> names) {
        adapters.merge(names, this::addDelta);
    }

    @Override
    public void unmerge() {
        adapters.unmerge(this::addDelta);
    }

    private void addDelta(String name, int sign) {
        for (String w : baseLayer().weightNames()) {
            float[] weight = baseLayer().parameter(w).data();
            VectorMath.axpy(sign, deltaWeight(name, w).data(), 0, weight, 0, weight.length);
        }
    }

    @Override
    public Map<String, Variable> adapterParameters(String name) {
        adapters.require(name);
        Map<String, Variable> m = new LinkedHashMap<>();
        for (String w : baseLayer().weightNames()) {
            m.put(w + ".lora_A.weight", loraA.at(name).at(w));
            m.put(w + ".lora_B.weight", loraB.at(name).at(w));
        }
        return m;
    }

    @Override
    public int inputSize() {
        return baseLayer().inputSize();
    }

    @Override
    public int hiddenSize() {
        return baseLayer().hiddenSize();
    }

    @Override
    public int numLayers() {
        return baseLayer().numLayers();
    }

    @Override
    public boolean bidirectional() {
        return baseLayer().bidirectional();
    }
}
