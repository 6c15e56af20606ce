package dev.lora4j.model;

import dev.lora4j.autograd.Variable;

/**
 * A decoder-only language model (GPT-2, Llama, Mistral, Qwen2): the training forward over whole sequences,
 * and the incremental forward generation uses, which appends to a {@link KvCache}.
 */
public interface CausalLanguageModel {
    int vocabSize();

    /**
     * Logits [batch·seq, vocab] for token ids [batch·seq], causal, with an optional attention mask (1 = real
     * token, 0 = padding; null = all real). Records on the tape for training.
     */
    Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask);

    /** A cache sized for this model. */
    KvCache newCache(int capacity);

    /**
     * Logits [tokens.length, vocab] for {@code tokens} following the cached ones (positions continue from
     * cache.length()); their keys and values are appended to the cache. Single sequence, no gradient.
     */
    float[] forwardCached(int[] tokens, KvCache cache);
}
