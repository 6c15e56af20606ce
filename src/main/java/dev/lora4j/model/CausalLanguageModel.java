package dev.lora4j.model;

import dev.lora4j.autograd.Ops;
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

    /**
     * The mean cross-entropy of {@link #forward}'s logits against {@code labels} [batch·seq] (already shifted: row t
     * holds the id that should follow token t), rows labelled {@code ignoreIndex} left out: the training loss.
     * Records on the tape. This default materialises the logits; decoders whose head is a plain linear override it
     * to compute the head and the loss a chunk of rows at a time ({@link Ops#linearCrossEntropy}), which never holds
     * the [batch·seq, vocab] logits or their gradient.
     */
    default Variable loss(int[] inputIds, int batch, int seq, int[] attentionMask, int[] labels, int ignoreIndex) {
        return Ops.crossEntropy(forward(inputIds, batch, seq, attentionMask), labels, ignoreIndex);
    }

    /** A cache sized for this model. */
    KvCache newCache(int capacity);

    /**
     * Logits [tokens.length, vocab] for {@code tokens} following the cached ones (positions continue from
     * cache.length()); their keys and values are appended to the cache. Single sequence, no gradient.
     */
    float[] forwardCached(int[] tokens, KvCache cache);

    /**
     * Logits for several independent sequences in one pass (see {@link CachedBatch}): sequence i's
     * {@code tokens[i]} follow what {@code caches[i]} holds and are appended to it. Rows of the result
     * [Σ tokens[i].length, vocab] are in sequence order. This default runs the sequences one by one; decoders
     * override it to apply each weight to all rows at once.
     */
    default float[] forwardCachedBatch(int[][] tokens, KvCache[] caches) {
        CachedBatch layout = CachedBatch.of(tokens, caches);
        int vocab = vocabSize();
        float[] out = new float[layout.rows() * vocab];
        for (int i = 0; i < tokens.length; i++) {
            float[] logits = forwardCached(tokens[i], caches[i]);
            System.arraycopy(logits, 0, out, layout.offsets()[i] * vocab, tokens[i].length * vocab);
        }
        return out;
    }
}
