package dev.lora4j.generate;

import java.util.Objects;
import java.util.Set;

/**
 * How {@link Generator} picks tokens, with transformers' meanings.
 *
 * @param maxNewTokens      the most tokens to generate (the prompt not counted); 0 generates nothing
 * @param temperature       0 = greedy (argmax, ties to the lowest id); otherwise logits are divided by it
 *                          before top-k/top-p and sampling (below 1 sharpens, above 1 flattens)
 * @param topK              keep only tokens whose (tempered) logit is at least the k-th largest; ties with the
 *                          k-th are kept, as in transformers' TopKLogitsWarper; 0 = off; unused when greedy
 * @param topP              nucleus sampling: keep the smallest set of most probable tokens whose probabilities
 *                          sum to at least topP (at least one token always kept); 1.0 = off; in (0, 1];
 *                          unused when greedy
 * @param seed              seed of the random generator, so that the same options give the same text
 * @param repetitionPenalty logits of tokens already seen (prompt and generated so far) are divided by it when
 *                          positive and multiplied by it when negative (transformers'
 *                          RepetitionPenaltyLogitsProcessor); applied in greedy mode too; 1.0 = off; above 1
 *                          discourages repeats
 * @param stopTokenIds      generation ends after any of these ids is produced (typically EOS); the stop token
 *                          is part of the output, as in transformers; may be empty
 */
public record SamplingOptions(
        int maxNewTokens,
        double temperature,
        int topK,
        double topP,
        long seed,
        double repetitionPenalty,
        Set<Integer> stopTokenIds) {

    public SamplingOptions {
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException(
                    "temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1] (1.0 = off), got " + topP);
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException(
                    "repetitionPenalty must be a finite number > 0 (1.0 = off), got " + repetitionPenalty);
        }
        Objects.requireNonNull(stopTokenIds, "stopTokenIds must not be null (use an empty set)");
        for (Integer id : stopTokenIds) {
            if (id == null) throw new IllegalArgumentException("stopTokenIds must not contain null");
            if (id < 0) throw new IllegalArgumentException("stop token ids must be >= 0, got " + id);
        }
        stopTokenIds = Set.copyOf(stopTokenIds);
    }

    /** Greedy decoding of at most {@code maxNewTokens} tokens, no penalty, no stop tokens. */
    public static SamplingOptions greedy(int maxNewTokens) {
        return new SamplingOptions(maxNewTokens, 0, 0, 1.0, 0, 1.0, Set.of());
    }

    /** Sampling at {@code temperature} with the given top-k (0 = off) and top-p (1.0 = off). */
    public static SamplingOptions sampling(int maxNewTokens, double temperature, int topK, double topP, long seed) {
        return new SamplingOptions(maxNewTokens, temperature, topK, topP, seed, 1.0, Set.of());
    }

    /** True when tokens are chosen by argmax (temperature 0). */
    public boolean isGreedy() {
        return temperature == 0;
    }

    public SamplingOptions withMaxNewTokens(int v) {
        return new SamplingOptions(v, temperature, topK, topP, seed, repetitionPenalty, stopTokenIds);
    }

    public SamplingOptions withTemperature(double v) {
        return new SamplingOptions(maxNewTokens, v, topK, topP, seed, repetitionPenalty, stopTokenIds);
    }

    public SamplingOptions withTopK(int v) {
        return new SamplingOptions(maxNewTokens, temperature, v, topP, seed, repetitionPenalty, stopTokenIds);
    }

    public SamplingOptions withTopP(double v) {
        return new SamplingOptions(maxNewTokens, temperature, topK, v, seed, repetitionPenalty, stopTokenIds);
    }

    public SamplingOptions withSeed(long v) {
        return new SamplingOptions(maxNewTokens, temperature, topK, topP, v, repetitionPenalty, stopTokenIds);
    }

    public SamplingOptions withRepetitionPenalty(double v) {
        return new SamplingOptions(maxNewTokens, temperature, topK, topP, seed, v, stopTokenIds);
    }

    public SamplingOptions withStopTokenIds(Set<Integer> v) {
        return new SamplingOptions(maxNewTokens, temperature, topK, topP, seed, repetitionPenalty, v);
    }
}
