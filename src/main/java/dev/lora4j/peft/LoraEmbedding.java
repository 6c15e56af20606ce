package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.EmbeddingLayer;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.ParameterDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * LoRA on an embedding table W [vocab, dim]: y = W[ids] + scaling·(Aᵀ[ids])·Bᵀ, with Peft's layout and init:
 * A ({@code lora_embedding_A}) [r, vocab] starts at zero, B ({@code lora_embedding_B}) [dim, r] is normal.
 * Dropout is not applied: the input is token ids, and Peft does not apply it either.
 */
public final class LoraEmbedding extends EmbeddingLayer implements LoraLayer {
    private final Slot<Embedding> base;
    private final ParameterDict loraA;
    private final ParameterDict loraB;
    private final AdapterSet adapters = new AdapterSet();

    @Override
    public AdapterSet adapterSet() {
        return adapters;
    }

    public LoraEmbedding(Embedding base) {
        this.base = register("base_layer", base);
        this.loraA = register("lora_embedding_A", new ParameterDict()).get();
        this.loraB = register("lora_embedding_B", new ParameterDict()).get();
    }

    @Override
    public Embedding baseLayer() {
        return base.get();
    }

    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        if (config.useDora() || config.initLoraWeights() == LoraConfig.Init.PISSA) {
            throw new IllegalArgumentException("embedding layers take plain LoRA only (no DoRA, no PiSSA init); "
                + "leave embeddings out of target_modules");
        }
        int r = config.r();
        Tensor a = config.initLoraWeights() == LoraConfig.Init.RANDOM
            ? Init.normal(rnd, 1f, r, numEmbeddings()) : Tensor.zeros(r, numEmbeddings());
        loraA.put(name, Variable.parameter(a));
        loraB.put(name, Variable.parameter(Init.normal(rnd, 1f, embeddingDim(), r)));
        adapters.add(name, config);
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        loraA.remove(name);
        loraB.remove(name);
    }

    @Override
    public Variable forward(int[] ids) {
        Variable y = base.get().forward(ids);
        for (String name : adapters.unmergedActive()) {
            Variable h = Ops.embeddingColumns(loraA.at(name), ids);
            y = Ops.addScaled(y, Ops.linear(h, loraB.at(name), null), adapters.require(name).scaling());
        }
        return y;
    }

    /** scaling·(B·A)ᵀ = scaling·Aᵀ·Bᵀ, in the table's [vocab, dim] layout. */
    @Override
    public Tensor deltaWeight(String name) {
        float scaling = adapters.require(name).scaling();
        Tensor a = loraA.at(name).value(), b = loraB.at(name).value();
        int vocab = numEmbeddings(), dim = embeddingDim(), r = a.shape().dim(0);
        float[] delta = new float[vocab * dim];
        // Aᵀ·Bᵀ with A [r, vocab] read transposed and B [dim, r] read as Bᵀ: the "tn" layout wants B [r, dim],
        // so transpose B (dim·r elements, tiny) rather than the table-sized A.
        float[] bt = new float[r * dim];
        for (int i = 0; i < dim; i++) for (int j = 0; j < r; j++) bt[j * dim + i] = b.data()[i * r + j];
        Gemm.tn(vocab, dim, r, a.data(), bt, delta, false);
        VectorMath.scale(delta, scaling, delta.length);
        return Tensor.of(delta, vocab, dim);
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
        m.put("lora_embedding_A", loraA.at(name));
        m.put("lora_embedding_B", loraB.at(name));
        return m;
    }

    @Override
    public int numEmbeddings() {
        return baseLayer().numEmbeddings();
    }

    @Override
    public int embeddingDim() {
        return baseLayer().embeddingDim();
    }
}
