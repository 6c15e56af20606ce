package dev.lora4j.model.llama;

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
 * transformers' LlamaForCausalLM (also MistralForCausalLM, Qwen2ForCausalLM): {@code model} (the decoder) and
 * {@code lm_head} (hidden → vocab, no bias). Checkpoint keys read {@code model.layers.0.self_attn.q_proj.weight}
 * and {@code lm_head.weight}, and so do the module paths, which is what a Peft adapter for this class names.
 *
 * <h2>Tied embeddings</h2>
 * With {@code tie_word_embeddings} the lm_head is a {@link Linear} over the very {@link Variable} of
 * {@code model.embed_tokens.weight} (as in PyTorch, where both modules hold one Parameter); a checkpoint's
 * {@code lm_head.weight}, if present, is ignored as transformers ignores it. Consequences:
 * <ul>
 *   <li>{@link #namedParameters()} lists the shared variable under both paths (as PyTorch's state_dict does;
 *       named_parameters would list it once): count parameters by identity, not by path.</li>
 *   <li>LoRA on lm_head still works: the LoRA layer wraps the Linear and adds its own B·A to the logits only,
 *       leaving the shared table alone (Peft allows this too and warns about tied targets). Merging such an
 *       adapter into lm_head would also change the input embeddings, because the weight is shared; Peft has the
 *       same hazard. Callers should not merge into a tied lm_head (or untie first). Peft's "all-linear" leaves
 *       the output layer out anyway.</li>
 *   <li>Training the embedding table (modules_to_save, full fine-tuning) trains both uses at once, as in PyTorch.</li>
 * </ul>
 */
public final class LlamaForCausalLM extends Module implements CausalLanguageModel {
    private final LlamaConfig config;
    private final Slot<LlamaModel> model;
    private final Slot<LinearLayer> lmHead;

    /** Builds the model from a checkpoint with keys {@code model.*} and (unless tied) {@code lm_head.weight}. */
    public LlamaForCausalLM(LlamaConfig config, Weights weights) {
        this.config = config;
        LlamaModel decoder = new LlamaModel(config, weights, "model.");
        this.model = register("model", decoder);
        Linear head = config.tieWordEmbeddings()
            ? new Linear(decoder.embeddingWeight(), null)
            : LlamaModel.linear(weights, "lm_head", config.hiddenSize(), config.vocabSize(), false);
        this.lmHead = register("lm_head", head);
    }

    /** The same as the constructor, named for symmetry with the loaders. */
    public static LlamaForCausalLM fromWeights(LlamaConfig config, Weights weights) {
        return new LlamaForCausalLM(config, weights);
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaModel model() {
        return model.get();
    }

    public LinearLayer lmHead() {
        return lmHead.get();
    }

    /** Whether lm_head shares the embedding table (see the class comment). */
    public boolean tiedWordEmbeddings() {
        return config.tieWordEmbeddings();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    /** Logits [batch·seq, vocab]; positions 0..seq−1 in every row (right padding), padding keys masked out. */
    @Override
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        return lmHead.get().forward(model.get().forward(inputIds, batch, seq, attentionMask));
    }

    /**
     * With a plain, bias-free lm_head (tied or not, frozen or trained) the head and the loss run fused, a chunk of rows
     * at a time ({@link Ops#linearCrossEntropy}); a wrapped head (LoRA on lm_head) goes through {@link #forward}.
     */
    @Override
    public Variable loss(int[] inputIds, int batch, int seq, int[] attentionMask, int[] labels, int ignoreIndex) {
        if (!(lmHead.get() instanceof Linear head) || head.bias() != null) {
            return CausalLanguageModel.super.loss(inputIds, batch, seq, attentionMask, labels, ignoreIndex);
        }
        return Ops.linearCrossEntropy(model.get().forward(inputIds, batch, seq, attentionMask), head.weight(), labels, ignoreIndex);
    }

    @Override
    public KvCache newCache(int capacity) {
        return new KvCache(config.numHiddenLayers(), config.kvWidth(), capacity);
    }

    @Override
    public float[] forwardCached(int[] tokens, KvCache cache) {
        try (var _ = Tape.noGrad()) {
            return lmHead.get().forward(model.get().forwardCached(tokens, cache)).data();
        }
    }

    @Override
    public float[] forwardCachedBatch(int[][] tokens, KvCache[] caches) {
        try (var _ = Tape.noGrad()) {
            return lmHead.get().forward(model.get().forwardCached(CachedBatch.of(tokens, caches))).data();
        }
    }
}
