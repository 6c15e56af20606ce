package dev.lora4j.model.gpt2;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Attention;
import dev.lora4j.kernel.CachedAttention;
import dev.lora4j.model.CachedBatch;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.CheckpointedBlock;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.EmbeddingLayer;
import dev.lora4j.nn.GradientCheckpointing;
import dev.lora4j.nn.LayerNorm;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.ModuleList;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2 decoder (transformers' GPT2Model): token and learned position embeddings, a stack of pre-LayerNorm
 * blocks, a final LayerNorm. Module paths equal the checkpoint keys ({@code h.0.attn.c_attn}, {@code ln_f}), so
 * weights load by name and LoRA targets use Peft's names. The projections are {@link Conv1D}s, weights stored
 * [in, out] as in the checkpoint; c_attn's output columns are q | k | v in that order.
 *
 * <p>Dropout (embd_pdrop, attn_pdrop, resid_pdrop) is not applied, as in lora4j's BERT: LoRA's own dropout is
 * the regulariser fine-tuning uses.
 */
public final class Gpt2Model extends Module implements GradientCheckpointing {
    private final Gpt2Config config;
    private final Variable wteWeight;
    private final Slot<EmbeddingLayer> wte, wpe;
    private final Slot<ModuleList<Block>> h;
    private final Slot<LayerNorm> lnF;
    private boolean gradientCheckpointing;

    /** Builds the model from {@code weights} under {@code prefix} ("" for GPT2Model, "transformer." inside GPT2LMHeadModel). */
    public Gpt2Model(Gpt2Config config, Weights weights, String prefix) {
        this.config = config;
        int e = config.nEmbd();
        this.wteWeight = Variable.parameter(weights.get(prefix + "wte.weight", config.vocabSize(), e));
        this.wte = register("wte", new Embedding(wteWeight));
        this.wpe = register("wpe", new Embedding(Variable.parameter(weights.get(prefix + "wpe.weight", config.nPositions(), e))));
        List<Block> blocks = new ArrayList<>();
        for (int i = 0; i < config.nLayer(); i++) blocks.add(new Block(config, weights, prefix + "h." + i + ".", i));
        this.h = register("h", new ModuleList<>(blocks));
        this.lnF = register("ln_f", layerNorm(weights, prefix + "ln_f", e, config.layerNormEpsilon()));
    }

    public Gpt2Config config() {
        return config;
    }

    /** wte's weight [vocab, n_embd], which a tied lm_head multiplies by. */
    public Variable wteWeight() {
        return wteWeight;
    }

    /**
     * The last hidden state (after ln_f), [batch·seq, n_embd], for ids [batch·seq] at positions 0..seq−1, causal,
     * with padding keys masked where attentionMask is 0 (null: none). Records on the tape.
     */
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        if (inputIds.length != batch * seq) throw new IllegalArgumentException("batch " + batch + " x seq " + seq + " needs " + batch * seq + " ids, got " + inputIds.length);
        if (seq > config.nPositions()) throw new IllegalArgumentException("sequence of " + seq + " tokens exceeds n_positions " + config.nPositions());
        boolean[] keyValid = keyValid(attentionMask, batch * seq);
        int[] positions = new int[batch * seq];
        for (int i = 0; i < positions.length; i++) positions[i] = i % seq;
        Variable x = Ops.add(wte.get().forward(checkIds(inputIds)), wpe.get().forward(positions));
        for (int i = 0; i < h.get().size(); i++) {
            Block block = h.get().get(i);
            x = gradientCheckpointing
                ? CheckpointedBlock.forward(block, x, in -> block.forward(in, batch, seq, keyValid))
                : block.forward(x, batch, seq, keyValid);
        }
        return lnF.get().forward(x);
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
     * The last hidden state of {@code tokens} following the cached ones (positions cache.length() ...): each
     * layer appends its new keys and values; the cache advances by tokens.length at the end. No gradient.
     */
    public Variable forwardCached(int[] tokens, KvCache cache) {
        return forwardCached(CachedBatch.of(new int[][] {tokens}, new KvCache[] {cache}));
    }

    /**
     * The last hidden state of every row of a {@link CachedBatch}: the projections run once over all rows,
     * attention per sequence over its own cache; every cache advances at the end. No gradient.
     */
    public Variable forwardCached(CachedBatch batch) {
        for (KvCache cache : batch.caches()) {
            if (cache.layers() != config.nLayer() || cache.width() != config.nEmbd()) {
                throw new IllegalArgumentException("KV cache of " + cache.layers() + " layers x " + cache.width() + " does not fit GPT-2 with "
                    + config.nLayer() + " layers x " + config.nEmbd());
            }
        }
        if (batch.maxLength() > config.nPositions()) {
            throw new IllegalArgumentException("position " + (batch.maxLength() - 1) + " is past n_positions " + config.nPositions());
        }
        Variable x = Ops.add(wte.get().forward(checkIds(batch.ids())), wpe.get().forward(batch.positions()));
        for (int i = 0; i < h.get().size(); i++) x = h.get().get(i).forwardCached(x, batch, i);
        batch.advanceCaches();
        return lnF.get().forward(x);
    }

    private int[] checkIds(int[] ids) {
        for (int id : ids) {
            if (id < 0 || id >= config.vocabSize()) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + config.vocabSize() + ")");
        }
        return ids;
    }

    /** Hugging Face attention_mask to the kernel's key mask; null when there is no padding. */
    private static boolean[] keyValid(int[] mask, int n) {
        if (mask == null) return null;
        if (mask.length != n) throw new IllegalArgumentException("attention mask has " + mask.length + " entries, need " + n);
        boolean any = false;
        boolean[] valid = new boolean[n];
        for (int i = 0; i < n; i++) {
            valid[i] = mask[i] != 0;
            any |= !valid[i];
        }
        return any ? valid : null;
    }

    static Conv1D conv1D(Weights w, String name, int in, int out) {
        return Conv1D.of(w.get(name + ".weight", in, out), w.get(name + ".bias", out));
    }

    static LayerNorm layerNorm(Weights w, String name, int dim, float eps) {
        return new LayerNorm(Variable.parameter(w.get(name + ".weight", dim)), Variable.parameter(w.get(name + ".bias", dim)), eps);
    }

    /** transformers' GPT2Block: x + attn(ln_1(x)), then + mlp(ln_2(x)). */
    static final class Block extends Module {
        private final Gpt2Config c;
        private final Slot<LayerNorm> ln1, ln2;
        private final Slot<Gpt2Attention> attn;
        private final Slot<Mlp> mlp;

        Block(Gpt2Config c, Weights w, String p, int layerIdx) {
            this.c = c;
            int e = c.nEmbd();
            ln1 = register("ln_1", layerNorm(w, p + "ln_1", e, c.layerNormEpsilon()));
            attn = register("attn", new Gpt2Attention(c, w, p + "attn.", layerIdx));
            ln2 = register("ln_2", layerNorm(w, p + "ln_2", e, c.layerNormEpsilon()));
            mlp = register("mlp", new Mlp(c, w, p + "mlp."));
        }

        Variable forward(Variable x, int batch, int seq, boolean[] keyValid) {
            x = Ops.add(x, attn.get().forward(ln1.get().forward(x), batch, seq, keyValid));
            return Ops.add(x, mlp.get().forward(ln2.get().forward(x)));
        }

        Variable forwardCached(Variable x, CachedBatch batch, int layer) {
            x = Ops.add(x, attn.get().forwardCached(ln1.get().forward(x), batch, layer));
            return Ops.add(x, mlp.get().forward(ln2.get().forward(x)));
        }
    }

    /** transformers' GPT2Attention: the fused projection {@code c_attn} [n_embd, 3·n_embd] and {@code c_proj}. */
    static final class Gpt2Attention extends Module {
        private final Gpt2Config c;
        private final float scale;
        private final Slot<LinearLayer> cAttn, cProj;

        Gpt2Attention(Gpt2Config c, Weights w, String p, int layerIdx) {
            this.c = c;
            int e = c.nEmbd();
            double s = c.scaleAttnWeights() ? 1 / Math.sqrt(c.headDim()) : 1;
            if (c.scaleAttnByInverseLayerIdx()) s /= layerIdx + 1;
            this.scale = (float) s;
            cAttn = register("c_attn", conv1D(w, p + "c_attn", e, 3 * e));
            cProj = register("c_proj", conv1D(w, p + "c_proj", e, e));
        }

        Variable forward(Variable x, int batch, int seq, boolean[] keyValid) {
            int e = c.nEmbd();
            Variable qkv = cAttn.get().forward(x);
            Variable q = Ops.columns(qkv, 0, e), k = Ops.columns(qkv, e, 2 * e), v = Ops.columns(qkv, 2 * e, 3 * e);
            Variable ctx = Ops.attention(q, k, v, new Attention.Shape(batch, seq, c.nHead(), c.nHead(), c.headDim()), true, keyValid, scale);
            return cProj.get().forward(ctx);
        }

        Variable forwardCached(Variable x, CachedBatch batch, int layer) {
            int e = c.nEmbd(), rows = batch.rows();
            Variable qkv = cAttn.get().forward(x);
            Variable q = Ops.columns(qkv, 0, e), k = Ops.columns(qkv, e, 2 * e), v = Ops.columns(qkv, 2 * e, 3 * e);
            float[] ctx = new float[rows * e];
            for (int s = 0; s < batch.sequences(); s++) {
                KvCache cache = batch.caches()[s];
                int row = batch.offsets()[s], n = batch.length(s);
                cache.append(layer, k.data(), v.data(), row, n);
                CachedAttention.forward(q.data(), cache.keys(layer), cache.values(layer), ctx, row, n, cache.length(), c.nHead(), c.nHead(),
                    c.headDim(), scale);
            }
            return cProj.get().forward(Variable.constant(Tensor.of(ctx, rows, e)));
        }
    }

    /** transformers' GPT2MLP: c_proj(act(c_fc(x))). */
    static final class Mlp extends Module {
        private final boolean tanhGelu;
        private final Slot<LinearLayer> cFc, cProj;

        Mlp(Gpt2Config c, Weights w, String p) {
            this.tanhGelu = c.tanhGelu();
            cFc = register("c_fc", conv1D(w, p + "c_fc", c.nEmbd(), c.nInner()));
            cProj = register("c_proj", conv1D(w, p + "c_proj", c.nInner(), c.nEmbd()));
        }

        Variable forward(Variable x) {
            Variable inner = cFc.get().forward(x);
            return cProj.get().forward(tanhGelu ? Ops.geluTanh(inner) : Ops.gelu(inner));
        }
    }
}
