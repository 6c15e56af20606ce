package dev.lora4j.model.gpt2;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.CachedBatch;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;

/**
 * transformers' GPT2LMHeadModel: {@code transformer} (a {@link Gpt2Model}) and {@code lm_head}, so module paths
 * read {@code transformer.h.0.attn.c_attn} as in the checkpoint and in a Peft adapter for this class.
 *
 * <p>With tie_word_embeddings (the default) lm_head multiplies by wte's weight Variable itself; it registers no
 * parameter of its own, so {@link #namedParameters()} lists the shared weight once, under
 * {@code transformer.wte.weight}, as PyTorch's named_parameters does (and an optimizer never steps it twice).
 */
public final class Gpt2LMHeadModel extends Module implements CausalLanguageModel {
    private final Gpt2Config config;
    private final Slot<Gpt2Model> transformer;
    private final Slot<LinearLayer> lmHead;

    /**
     * @param prefix where the decoder's weights sit in {@code weights}: "transformer." for a GPT2LMHeadModel
     *               checkpoint, "" for a bare GPT2Model one (the original "gpt2" repository)
     */
    public Gpt2LMHeadModel(Gpt2Config config, Weights weights, String prefix) {
        this.config = config;
        Gpt2Model decoder = new Gpt2Model(config, weights, prefix);
        this.transformer = register("transformer", decoder);
        LinearLayer head = config.tieWordEmbeddings()
            ? new TiedLmHead(decoder.wteWeight())
            : Linear.of(weights.get("lm_head.weight", config.vocabSize(), config.nEmbd()), null);
        this.lmHead = register("lm_head", head);
    }

    /** From a checkpoint with either key layout: "transformer.wte.weight" (GPT2LMHeadModel) or "wte.weight" (GPT2Model). */
    public static Gpt2LMHeadModel fromWeights(Gpt2Config config, Weights weights) {
        return new Gpt2LMHeadModel(config, weights, weights.has("transformer.wte.weight") ? "transformer." : "");
    }

    /** Random weights as transformers initialises GPT-2 (N(0, 0.02), LayerNorm 1/0, biases 0), from a seed. */
    public static Gpt2LMHeadModel random(Gpt2Config config, long seed) {
        return new Gpt2LMHeadModel(config, Weights.random(seed, 0.02f), "transformer.");
    }

    public Gpt2Config config() {
        return config;
    }

    public Gpt2Model transformer() {
        return transformer.get();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        return lmHead.get().forward(transformer.get().forward(inputIds, batch, seq, attentionMask));
    }

    /**
     * With the tied head or a plain, bias-free lm_head the head and the loss run fused, a chunk of rows at a time
     * ({@link Ops#linearCrossEntropy}); a wrapped head (LoRA on lm_head) goes through {@link #forward}.
     */
    @Override
    public Variable loss(int[] inputIds, int batch, int seq, int[] attentionMask, int[] labels, int ignoreIndex) {
        Variable weight = switch (lmHead.get()) {
            case TiedLmHead tied -> tied.weight();
            case Linear head when head.bias() == null -> head.weight();
            default -> null;
        };
        if (weight == null) return CausalLanguageModel.super.loss(inputIds, batch, seq, attentionMask, labels, ignoreIndex);
        return Ops.linearCrossEntropy(transformer.get().forward(inputIds, batch, seq, attentionMask), weight, labels, ignoreIndex);
    }

    @Override
    public KvCache newCache(int capacity) {
        return new KvCache(config.nLayer(), config.nEmbd(), Math.min(capacity, config.nPositions()));
    }

    @Override
    public float[] forwardCached(int[] tokens, KvCache cache) {
        if (tokens.length == 0) return new float[0];
        try (var _ = Tape.noGrad()) {
            return lmHead.get().forward(transformer.get().forwardCached(tokens, cache)).data();
        }
    }

    @Override
    public float[] forwardCachedBatch(int[][] tokens, KvCache[] caches) {
        try (var _ = Tape.noGrad()) {
            return lmHead.get().forward(transformer.get().forwardCached(CachedBatch.of(tokens, caches))).data();
        }
    }

    /** lm_head tied to wte: logits = h·wteᵀ, the weight shared, not registered again. */
    static final class TiedLmHead extends LinearLayer {
        private final Variable weight;

        TiedLmHead(Variable weight) {
            this.weight = weight;
        }

        @Override
        public Variable forward(Variable x) {
            return Ops.linear(x, weight, null);
        }

        /** The shared weight [vocab, n_embd] (wte's). */
        public Variable weight() {
            return weight;
        }

        @Override
        public int inFeatures() {
            return weight.shape().dim(1);
        }

        @Override
        public int outFeatures() {
            return weight.shape().dim(0);
        }
    }
}
