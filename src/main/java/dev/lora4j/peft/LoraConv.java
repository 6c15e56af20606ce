package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.ModuleDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.nn.conv.Conv1d;
import dev.lora4j.nn.conv.Conv2d;
import dev.lora4j.nn.conv.ConvLayer;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * LoRA on a convolution, Peft's lora.Conv2d and lora.Conv1d (one class, since a Conv1d is a height-1 Conv2d;
 * not to be confused with {@link LoraConv1D}, GPT-2's linear): y = base(x) + scaling·B(A(dropout(x))), where A is a
 * bias-free convolution from in to r channels with the base's kernel, stride, padding and dilation, and B a 1x1
 * convolution from r to out channels. Keys and shapes are Peft's: {@code lora_A.weight} [r, in, kh, kw]
 * ({@code [r, in, k]} for 1-D), {@code lora_B.weight} [out, r, 1, 1] ({@code [out, r, 1]}). Because B is 1x1, the
 * update of the base weight is the product B·A of the flattened kernels, scaling·B [out, r] · A [r, in·kh·kw].
 *
 * <p>Peft builds A without the base's dilation (so a dilated base fails there with a shape mismatch); here A takes it,
 * which for every undilated convolution is the same layer Peft builds.
 */
public final class LoraConv extends ConvLayer implements LoraLayer, dev.lora4j.nn.Stochastic {
    private final Slot<ConvLayer> base;
    private final ModuleDict<ConvLayer> loraA;
    private final ModuleDict<ConvLayer> loraB;
    private final AdapterSet adapters = new AdapterSet();

    @Override
    public AdapterSet adapterSet() {
        return adapters;
    }
    private final long dropoutSeed;
    private long forwardCalls;

    public LoraConv(ConvLayer base, long dropoutSeed) {
        this.base = register("base_layer", base);
        this.loraA = register("lora_A", new ModuleDict<ConvLayer>()).get();
        this.loraB = register("lora_B", new ModuleDict<ConvLayer>()).get();
        this.dropoutSeed = dropoutSeed;
    }

    @Override
    public ConvLayer baseLayer() {
        return base.get();
    }

    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        if (config.useDora() || config.initLoraWeights() == LoraConfig.Init.PISSA) {
            throw new IllegalArgumentException("convolution layers take plain LoRA only (no DoRA, no PiSSA init yet); "
                + "leave them out of target_modules");
        }
        int r = config.r();
        ConvLayer a = baseLayer().sibling(inChannels(), r, false, rnd);
        ConvLayer b = baseLayer().sibling(r, outChannels(), true, rnd);
        // Peft's reset_lora_parameters: A Kaiming-uniform (sibling's init) or N(0, 1/r); B zero unless init is random.
        if (config.initLoraWeights() == LoraConfig.Init.GAUSSIAN) {
            float[] ad = a.weight().data();
            System.arraycopy(Init.normal(rnd, 1f / r, ad.length).data(), 0, ad, 0, ad.length);
        }
        if (config.initLoraWeights() != LoraConfig.Init.RANDOM) java.util.Arrays.fill(b.weight().data(), 0f);
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

    /** Tests switch the fused path off to compare it with the plain composition. */
    static boolean fuse = true;

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
        List<String> live = adapters.unmergedActive();
        // One adapter without dropout (the usual case): base and branch share one unfolding of the input.
        if (fuse && live.size() == 1 && !(training() && adapters.require(live.get(0)).dropout() > 0)) {
            String name = live.get(0);
            Variable a = loraA.at(name).weight(), b = loraB.at(name).weight();
            float s = adapters.require(name).scaling();
            switch (baseLayer()) {
                case Conv2d c -> { return c.forwardWithLora(x, a, b, s); }
                case Conv1d c -> { return c.forwardWithLora(x, a, b, s); }
                default -> { }
            }
        }
        Variable y = base.get().forward(x);
        for (String name : live) {
            AdapterSet.Settings s = adapters.require(name);
            Variable in = training() && s.dropout() > 0 ? Ops.dropout(x, s.dropout(), dropoutSeed * 31 + call) : x;
            y = Ops.addScaled(y, loraB.at(name).forward(loraA.at(name).forward(in)), s.scaling());
        }
        return y;
    }

    /** scaling·B·A in the base kernel's layout [out, in, kernel...]. */
    @Override
    public Tensor deltaWeight(String name) {
        float scaling = adapters.require(name).scaling();
        Tensor a = loraA.at(name).weight().value(), b = loraB.at(name).weight().value();
        int out = outChannels(), r = a.shape().dim(0), patch = a.size() / r;
        float[] delta = new float[out * patch];
        Gemm.nn(out, patch, r, b.data(), a.data(), delta, false);
        VectorMath.scale(delta, scaling, delta.length);
        return new Tensor(baseLayer().weight().shape(), delta);
    }

    @Override
    public void merge(List<String> names) {
        adapters.merge(names, baseLayer().weight().data(), this::deltaWeight);
    }

    @Override
    public void unmerge() {
        adapters.unmerge(baseLayer().weight().data(), this::deltaWeight);
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
    public int inChannels() {
        return baseLayer().inChannels();
    }

    @Override
    public int outChannels() {
        return baseLayer().outChannels();
    }

    @Override
    public int[] kernelSize() {
        return baseLayer().kernelSize();
    }

    @Override
    public ConvLayer sibling(int in, int out, boolean pointwise, RandomGenerator rnd) {
        return baseLayer().sibling(in, out, pointwise, rnd);
    }

    @Override
    public Variable weight() {
        return baseLayer().weight();
    }
}
