package dev.lora4j.model.llama;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Attention;
import dev.lora4j.kernel.CachedAttention;
import dev.lora4j.kernel.Rope;
import dev.lora4j.model.CachedBatch;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.CheckpointedBlock;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.EmbeddingLayer;
import dev.lora4j.nn.GradientCheckpointing;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.ModuleList;
import dev.lora4j.nn.RmsNorm;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The Llama-family decoder (transformers' LlamaModel, MistralModel, Qwen2Model): token embeddings, a stack of
 * pre-RMSNorm decoder layers with rotary grouped-query self-attention and a SwiGLU MLP, and a final RMSNorm.
 * Module paths equal the checkpoint keys below the task prefix ({@code layers.0.self_attn.q_proj}), so weights
 * load by name and LoRA targets use Peft's names.
 *
 * <pre>
 *   x = embed_tokens(ids)
 *   per layer:  h = x + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   n = input_layernorm(x)
 *               x = h + down_proj(silu(gate_proj(m)) ⊙ up_proj(m))                         m = post_attention_layernorm(h)
 *   out = norm(x)
 * </pre>
 */
public final class LlamaModel extends Module implements GradientCheckpointing {
    private final LlamaConfig config;
    private final Slot<EmbeddingLayer> embedTokens;
    private final Slot<ModuleList<DecoderLayer>> layers;
    private final Slot<RmsNorm> norm;
    private final Variable embeddingWeight;
    private final float[] invFreq;
    private volatile Rope.Table ropeTable;
    private boolean gradientCheckpointing;

    /** Builds the decoder from {@code weights} under {@code prefix} ("model." inside LlamaForCausalLM, "" for a bare LlamaModel). */
    public LlamaModel(LlamaConfig config, Weights weights, String prefix) {
        this.config = config;
        Embedding embedding = new Embedding(Variable.parameter(weights.get(prefix + "embed_tokens.weight", config.vocabSize(), config.hiddenSize())));
        this.embeddingWeight = embedding.weight();
        this.embedTokens = register("embed_tokens", embedding);
        List<DecoderLayer> list = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) list.add(new DecoderLayer(config, weights, prefix + "layers." + i + "."));
        this.layers = register("layers", new ModuleList<>(list));
        this.norm = register("norm", rmsNorm(weights, prefix + "norm", config));
        this.invFreq = config.inverseFrequencies();
    }

    public LlamaConfig config() {
        return config;
    }

    /**
     * The base embedding table [vocab, hidden] as loaded (what a tied lm_head shares), even when embed_tokens has
     * since been wrapped by a LoRA layer.
     */
    public Variable embeddingWeight() {
        return embeddingWeight;
    }

    public EmbeddingLayer embedTokens() {
        return embedTokens.get();
    }

    public DecoderLayer layer(int i) {
        return layers.get().get(i);
    }

    /**
     * The last hidden state (after the final norm), [batch·seq, hidden], for right-padded sequences: token t of a
     * row is at position t, and keys where {@code attentionMask} is 0 are invisible (null mask: all real).
     */
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        int n = batch * seq;
        if (batch < 0 || seq < 0 || inputIds.length != n) {
            throw new IllegalArgumentException("batch " + batch + " x seq " + seq + " needs " + n + " input ids, got " + inputIds.length);
        }
        if (attentionMask != null && attentionMask.length != n) {
            throw new IllegalArgumentException("attention mask has " + attentionMask.length + " entries, batch " + batch + " x seq " + seq + " needs " + n);
        }
        checkWindow(seq);
        boolean[] keyValid = null;
        if (attentionMask != null) {
            keyValid = new boolean[n];
            for (int i = 0; i < n; i++) keyValid[i] = attentionMask[i] != 0;
        }
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = i % seq;
        Rope.Table table = ropeTable(seq);
        Attention.Shape shape = new Attention.Shape(batch, seq, config.numAttentionHeads(), config.numKeyValueHeads(), config.headDim());

        Variable x = embedTokens.get().forward(inputIds);
        boolean[] valid = keyValid;
        for (int i = 0; i < layers.get().size(); i++) {
            DecoderLayer layer = layers.get().get(i);
            x = gradientCheckpointing
                ? CheckpointedBlock.forward(layer, x, in -> layer.forward(in, positions, table, shape, valid))
                : layer.forward(x, positions, table, shape, keyValid);
        }
        return norm.get().forward(x);
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
     * The last hidden state [tokens.length, hidden] of {@code tokens} following the cached ones, appending their
     * keys and values to {@code cache} and advancing it. No gradient is recorded.
     */
    public Variable forwardCached(int[] tokens, KvCache cache) {
        if (tokens.length == 0) throw new IllegalArgumentException("forwardCached needs at least one token");
        return forwardCached(CachedBatch.of(new int[][] {tokens}, new KvCache[] {cache}));
    }

    /**
     * The last hidden state of every row of a {@link CachedBatch}: each weight is applied to all rows of all
     * sequences at once, attention runs per sequence over its own cache, and every cache advances. No gradient.
     */
    public Variable forwardCached(CachedBatch batch) {
        for (KvCache cache : batch.caches()) {
            if (cache.layers() != config.numHiddenLayers() || cache.width() != config.kvWidth()) {
                throw new IllegalArgumentException("cache of " + cache.layers() + " layers x width " + cache.width() + " does not fit this model ("
                    + config.numHiddenLayers() + " layers x " + config.kvWidth() + ")");
            }
        }
        int end = batch.maxLength();
        checkWindow(end);
        Rope.Table table = ropeTable(end);
        try (var _ = Tape.noGrad()) {
            Variable x = embedTokens.get().forward(batch.ids());
            for (int i = 0; i < layers.get().size(); i++) x = layers.get().get(i).forwardCached(x, table, batch, i);
            batch.advanceCaches();
            return norm.get().forward(x);
        }
    }

    private void checkWindow(int length) {
        Integer w = config.slidingWindow();
        if (w != null && length > w) {
            throw new UnsupportedOperationException(config.modelType() + " uses sliding-window attention (window " + w + "), which lora4j "
                + "does not implement; sequences up to " + w + " tokens compute exactly, this one has " + length);
        }
    }

    /** A cos/sin table covering positions [0, needed), grown by doubling (positions may exceed max_position_embeddings, as in transformers). */
    private Rope.Table ropeTable(int needed) {
        Rope.Table t = ropeTable;
        if (t != null && t.maxPositions() >= needed) return t;
        synchronized (this) {
            t = ropeTable;
            if (t != null && t.maxPositions() >= needed) return t;
            int cap = t == null ? Math.min(config.maxPositionEmbeddings(), 2048) : 2 * t.maxPositions();
            t = new Rope.Table(invFreq, Math.max(needed, cap));
            ropeTable = t;
            return t;
        }
    }

    static Linear linear(Weights w, String name, int in, int out, boolean bias) {
        Tensor weight = w.get(name + ".weight", out, in);
        return Linear.of(weight, bias ? w.get(name + ".bias", out) : null);
    }

    static RmsNorm rmsNorm(Weights w, String name, LlamaConfig c) {
        return new RmsNorm(Variable.parameter(w.get(name + ".weight", c.hiddenSize())), c.rmsNormEps());
    }

    /** transformers' LlamaDecoderLayer: {@code self_attn}, {@code mlp}, {@code input_layernorm}, {@code post_attention_layernorm}. */
    public static final class DecoderLayer extends Module {
        private final Slot<SelfAttention> selfAttn;
        private final Slot<Mlp> mlp;
        private final Slot<RmsNorm> inputLayernorm;
        private final Slot<RmsNorm> postAttentionLayernorm;

        DecoderLayer(LlamaConfig c, Weights w, String p) {
            selfAttn = register("self_attn", new SelfAttention(c, w, p + "self_attn."));
            mlp = register("mlp", new Mlp(c, w, p + "mlp."));
            inputLayernorm = register("input_layernorm", rmsNorm(w, p + "input_layernorm", c));
            postAttentionLayernorm = register("post_attention_layernorm", rmsNorm(w, p + "post_attention_layernorm", c));
        }

        public SelfAttention selfAttn() {
            return selfAttn.get();
        }

        public Mlp mlp() {
            return mlp.get();
        }

        Variable forward(Variable x, int[] positions, Rope.Table table, Attention.Shape shape, boolean[] keyValid) {
            Variable h = Ops.add(x, selfAttn.get().forward(inputLayernorm.get().forward(x), positions, table, shape, keyValid));
            return Ops.add(h, mlp.get().forward(postAttentionLayernorm.get().forward(h)));
        }

        Variable forwardCached(Variable x, Rope.Table table, CachedBatch batch, int layer) {
            Variable h = Ops.add(x, selfAttn.get().forwardCached(inputLayernorm.get().forward(x), table, batch, layer));
            return Ops.add(h, mlp.get().forward(postAttentionLayernorm.get().forward(h)));
        }
    }

    /** transformers' LlamaAttention: {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj}. */
    public static final class SelfAttention extends Module {
        private final LlamaConfig c;
        private final Slot<LinearLayer> qProj, kProj, vProj, oProj;
        private final float scale;

        SelfAttention(LlamaConfig c, Weights w, String p) {
            this.c = c;
            int h = c.hiddenSize(), q = c.numAttentionHeads() * c.headDim(), kv = c.kvWidth();
            qProj = register("q_proj", linear(w, p + "q_proj", h, q, c.qkvBias()));
            kProj = register("k_proj", linear(w, p + "k_proj", h, kv, c.qkvBias()));
            vProj = register("v_proj", linear(w, p + "v_proj", h, kv, c.qkvBias()));
            oProj = register("o_proj", linear(w, p + "o_proj", q, h, c.oProjBias()));
            // transformers: self.scaling = head_dim ** -0.5
            this.scale = (float) Math.pow(c.headDim(), -0.5);
        }

        Variable forward(Variable x, int[] positions, Rope.Table table, Attention.Shape shape, boolean[] keyValid) {
            int hd = c.headDim();
            Variable q = Ops.rope(qProj.get().forward(x), c.numAttentionHeads(), hd, positions, table);
            Variable k = Ops.rope(kProj.get().forward(x), c.numKeyValueHeads(), hd, positions, table);
            Variable v = vProj.get().forward(x);
            return oProj.get().forward(Ops.attention(q, k, v, shape, true, keyValid, scale));
        }

        /**
         * Appends this layer's rotated keys and values for the new tokens of each sequence to its cache, then
         * attends over that cache; the projections run once over all rows.
         */
        Variable forwardCached(Variable x, Rope.Table table, CachedBatch batch, int layer) {
            int hd = c.headDim();
            Variable q = Ops.rope(qProj.get().forward(x), c.numAttentionHeads(), hd, batch.positions(), table);
            Variable k = Ops.rope(kProj.get().forward(x), c.numKeyValueHeads(), hd, batch.positions(), table);
            Variable v = vProj.get().forward(x);
            Variable ctx = new Variable(Tensor.zeros(batch.rows(), c.numAttentionHeads() * hd), false);
            for (int s = 0; s < batch.sequences(); s++) {
                KvCache cache = batch.caches()[s];
                int row = batch.offsets()[s], n = batch.length(s);
                cache.append(layer, k.data(), v.data(), row, n);
                CachedAttention.forward(q.data(), cache.keys(layer), cache.values(layer), ctx.data(), row, n, cache.length(),
                    c.numAttentionHeads(), c.numKeyValueHeads(), hd, scale);
            }
            return oProj.get().forward(ctx);
        }
    }

    /** transformers' LlamaMLP: down_proj(silu(gate_proj(x)) ⊙ up_proj(x)). */
    public static final class Mlp extends Module {
        private final Slot<LinearLayer> gateProj, upProj, downProj;

        Mlp(LlamaConfig c, Weights w, String p) {
            int h = c.hiddenSize(), i = c.intermediateSize();
            gateProj = register("gate_proj", linear(w, p + "gate_proj", h, i, c.mlpBias()));
            upProj = register("up_proj", linear(w, p + "up_proj", h, i, c.mlpBias()));
            downProj = register("down_proj", linear(w, p + "down_proj", i, h, c.mlpBias()));
        }

        Variable forward(Variable x) {
            return downProj.get().forward(Ops.siluMul(gateProj.get().forward(x), upProj.get().forward(x)));
        }
    }
}
