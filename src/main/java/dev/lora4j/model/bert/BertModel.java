package dev.lora4j.model.bert;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Attention;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.CheckpointedBlock;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.EmbeddingLayer;
import dev.lora4j.nn.GradientCheckpointing;
import dev.lora4j.nn.LayerNorm;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.ModuleList;
import dev.lora4j.nn.Slot;
import java.util.ArrayList;
import java.util.List;

/**
 * BERT encoder (transformers' BertModel): embeddings, a stack of post-LayerNorm transformer layers, and an
 * optional pooler. Module paths equal the checkpoint keys ({@code encoder.layer.0.attention.self.query}),
 * so weights load by name and LoRA targets use Peft's names.
 */
public final class BertModel extends Module implements GradientCheckpointing {
    private final BertConfig config;
    private final Slot<Embeddings> embeddings;
    private final Slot<ModuleList<Layer>> layers;
    private final Slot<Pooler> pooler;
    private boolean gradientCheckpointing;

    /** Builds the model from {@code weights} under {@code prefix} ("" for BertModel, "bert." inside a task model). */
    public BertModel(BertConfig config, Weights weights, String prefix, boolean withPooler) {
        this.config = config;
        this.embeddings = register("embeddings", new Embeddings(config, weights, prefix + "embeddings."));
        List<Layer> list = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) list.add(new Layer(config, weights, prefix + "encoder.layer." + i + "."));
        Encoder encoder = new Encoder(new ModuleList<>(list));
        register("encoder", encoder);
        this.layers = encoder.layer;
        this.pooler = withPooler ? register("pooler", new Pooler(config, weights, prefix + "pooler.")) : null;
    }

    public BertConfig config() {
        return config;
    }

    /** The input of one forward pass: token ids, segment ids and attention mask, each [batch·seq]. */
    public record Batch(int[] inputIds, int[] tokenTypeIds, int[] attentionMask, int batch, int seq) {
        public Batch {
            int n = batch * seq;
            if (inputIds.length != n || tokenTypeIds.length != n || attentionMask.length != n) {
                throw new IllegalArgumentException("batch " + batch + " x seq " + seq + " needs " + n + " ids, type ids and mask entries");
            }
        }
    }

    /** The last hidden state, [batch·seq, hidden]. */
    public Variable forward(Batch in) {
        boolean[] keyValid = new boolean[in.attentionMask().length];
        for (int i = 0; i < keyValid.length; i++) keyValid[i] = in.attentionMask()[i] != 0;
        Variable x = embeddings.get().forward(in);
        for (int i = 0; i < layers.get().size(); i++) {
            Layer layer = layers.get().get(i);
            x = gradientCheckpointing
                ? CheckpointedBlock.forward(layer, x, h -> layer.forward(h, in.batch(), in.seq(), keyValid))
                : layer.forward(x, in.batch(), in.seq(), keyValid);
        }
        return x;
    }

    @Override
    public void setGradientCheckpointing(boolean on) {
        gradientCheckpointing = on;
    }

    @Override
    public boolean gradientCheckpointing() {
        return gradientCheckpointing;
    }

    /**
     * Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2, BGE and E5 exports:
     * the mean of the last hidden state over real tokens, L2-normalised; [batch, hidden].
     */
    public Variable embed(Batch in) {
        return Ops.l2Normalize(Ops.meanPool(forward(in), in.batch(), in.seq(), in.attentionMask()));
    }

    /** The pooler output tanh(W·h[CLS] + b), [batch, hidden] (BertForSequenceClassification's input). */
    public Variable pool(Variable hidden, int batch, int seq) {
        if (pooler == null) throw new IllegalStateException("this BERT model was built without a pooler");
        int[] cls = new int[batch];
        for (int b = 0; b < batch; b++) cls[b] = b * seq;
        return pooler.get().forward(Ops.selectRows(hidden, cls));
    }

    static Linear linear(Weights w, String name, int in, int out) {
        return Linear.of(w.get(name + ".weight", out, in), w.get(name + ".bias", out));
    }

    static LayerNorm layerNorm(Weights w, String name, int dim, float eps) {
        return new LayerNorm(Variable.parameter(w.get(name + ".weight", dim)), Variable.parameter(w.get(name + ".bias", dim)), eps);
    }

    static final class Embeddings extends Module {
        private final Slot<EmbeddingLayer> word, position, tokenType;
        private final Slot<LayerNorm> norm;

        Embeddings(BertConfig c, Weights w, String p) {
            int h = c.hiddenSize();
            word = register("word_embeddings", new Embedding(Variable.parameter(w.get(p + "word_embeddings.weight", c.vocabSize(), h))));
            position = register("position_embeddings", new Embedding(Variable.parameter(w.get(p + "position_embeddings.weight", c.maxPositionEmbeddings(), h))));
            tokenType = register("token_type_embeddings", new Embedding(Variable.parameter(w.get(p + "token_type_embeddings.weight", c.typeVocabSize(), h))));
            norm = register("LayerNorm", layerNorm(w, p + "LayerNorm", h, c.layerNormEps()));
        }

        Variable forward(Batch in) {
            int[] positions = new int[in.batch() * in.seq()];
            for (int i = 0; i < positions.length; i++) positions[i] = i % in.seq();
            Variable x = Ops.add(word.get().forward(in.inputIds()), position.get().forward(positions));
            x = Ops.add(x, tokenType.get().forward(in.tokenTypeIds()));
            return norm.get().forward(x);
        }
    }

    static final class Encoder extends Module {
        final Slot<ModuleList<Layer>> layer;

        Encoder(ModuleList<Layer> layers) {
            layer = register("layer", layers);
        }
    }

    /** One transformer layer: self-attention and feed-forward, each followed by residual + LayerNorm. */
    static final class Layer extends Module {
        private final BertConfig c;
        private final Slot<BertAttention> attention;
        private final Slot<Dense> intermediate;
        private final Slot<DenseNorm> output;

        Layer(BertConfig c, Weights w, String p) {
            this.c = c;
            int h = c.hiddenSize();
            attention = register("attention", new BertAttention(c, w, p + "attention."));
            intermediate = register("intermediate", new Dense(linear(w, p + "intermediate.dense", h, c.intermediateSize())));
            output = register("output", new DenseNorm(linear(w, p + "output.dense", c.intermediateSize(), h), layerNorm(w, p + "output.LayerNorm", h, c.layerNormEps())));
        }

        Variable forward(Variable x, int batch, int seq, boolean[] keyValid) {
            Variable a = attention.get().forward(x, batch, seq, keyValid);
            Variable inner = intermediate.get().dense.get().forward(a);
            inner = c.hiddenAct().equals("gelu") ? Ops.gelu(inner) : Ops.geluTanh(inner);
            return output.get().forward(inner, a);
        }
    }

    /** transformers' BertAttention: {@code self} (query, key, value) and {@code output} (dense, LayerNorm). */
    static final class BertAttention extends Module {
        private final BertConfig c;
        private final Slot<SelfAttention> self;
        private final Slot<DenseNorm> output;

        BertAttention(BertConfig c, Weights w, String p) {
            this.c = c;
            int h = c.hiddenSize();
            self = register("self", new SelfAttention(w, p + "self.", h));
            output = register("output", new DenseNorm(linear(w, p + "output.dense", h, h), layerNorm(w, p + "output.LayerNorm", h, c.layerNormEps())));
        }

        Variable forward(Variable x, int batch, int seq, boolean[] keyValid) {
            SelfAttention s = self.get();
            Variable q = s.query.get().forward(x), k = s.key.get().forward(x), v = s.value.get().forward(x);
            int heads = c.numAttentionHeads(), d = c.headDim();
            Variable ctx = Ops.attention(q, k, v, new Attention.Shape(batch, seq, heads, heads, d), false, keyValid,
                (float) (1 / Math.sqrt(d)));
            return output.get().forward(ctx, x);
        }
    }

    static final class SelfAttention extends Module {
        final Slot<LinearLayer> query, key, value;

        SelfAttention(Weights w, String p, int h) {
            query = register("query", linear(w, p + "query", h, h));
            key = register("key", linear(w, p + "key", h, h));
            value = register("value", linear(w, p + "value", h, h));
        }
    }

    /** A module holding one linear named {@code dense} (transformers' BertIntermediate). */
    static final class Dense extends Module {
        final Slot<LinearLayer> dense;

        Dense(Linear d) {
            dense = register("dense", d);
        }
    }

    /** LayerNorm(dense(x) + residual): transformers' BertSelfOutput and BertOutput. */
    static final class DenseNorm extends Module {
        private final Slot<LinearLayer> dense;
        private final Slot<LayerNorm> norm;

        DenseNorm(Linear d, LayerNorm n) {
            dense = register("dense", d);
            norm = register("LayerNorm", n);
        }

        Variable forward(Variable x, Variable residual) {
            return norm.get().forward(Ops.add(dense.get().forward(x), residual));
        }
    }

    static final class Pooler extends Module {
        private final Slot<LinearLayer> dense;

        Pooler(BertConfig c, Weights w, String p) {
            dense = register("dense", linear(w, p + "dense", c.hiddenSize(), c.hiddenSize()));
        }

        Variable forward(Variable cls) {
            return Ops.tanh(dense.get().forward(cls));
        }
    }
}
