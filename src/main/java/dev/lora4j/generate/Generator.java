package dev.lora4j.generate;

import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.KvCache;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Autoregressive generation through the KV cache: the whole prompt goes through the model in one
 * {@link CausalLanguageModel#forwardCached} call (prefill), its last row of logits gives the first token, and
 * each further token costs one single-token call. The last token chosen is not fed back (nothing would use its
 * logits), so a run of n tokens makes exactly n model calls.
 *
 * <p>Generation ends after {@link SamplingOptions#maxNewTokens()} tokens or right after a stop token; like
 * transformers, the stop token is part of the returned ids and is given to the listener (decode with
 * special tokens skipped to hide it).
 *
 * <p>Randomness comes from a {@link SplittableRandom} seeded with {@link SamplingOptions#seed()}, so equal
 * options, prompt and model give equal output.
 */
public final class Generator {
    private Generator() {}

    /** The generated ids (prompt excluded), each also passed to {@code listener} as it is chosen. */
    public static List<Integer> generate(CausalLanguageModel model, int[] promptIds, SamplingOptions options,
                                         TokenListener listener) {
        return generateWithStats(model, promptIds, options, listener).ids();
    }

    /** As {@link #generate}, with timings and the reason it stopped. */
    public static GenerationResult generateWithStats(CausalLanguageModel model, int[] promptIds,
                                                     SamplingOptions options, TokenListener listener) {
        Objects.requireNonNull(options, "options");
        return generateWithStats(model, promptIds, options, listener, new SplittableRandom(options.seed()));
    }

    /** As above with a caller-supplied random generator ({@link SamplingOptions#seed()} is then unused). */
    public static GenerationResult generateWithStats(CausalLanguageModel model, int[] promptIds,
                                                     SamplingOptions options, TokenListener listener,
                                                     RandomGenerator rng) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(promptIds, "promptIds");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(rng, "rng");
        TokenListener sink = listener == null ? TokenListener.NONE : listener;
        int vocab = model.vocabSize();
        if (promptIds.length == 0) {
            throw new IllegalArgumentException(
                    "the prompt is empty; give at least one token (e.g. the tokenizer's BOS token)");
        }
        for (int i = 0; i < promptIds.length; i++) {
            if (promptIds[i] < 0 || promptIds[i] >= vocab) {
                throw new IllegalArgumentException("prompt token " + i + " has id " + promptIds[i]
                        + ", outside the model's vocabulary of " + vocab);
            }
        }
        int maxNew = options.maxNewTokens();
        List<Integer> out = new ArrayList<>(maxNew);
        if (maxNew == 0) {
            return new GenerationResult(out, promptIds.length, 0, 0, 0, 0, GenerationResult.StopReason.MAX_NEW_TOKENS);
        }

        Sampler sampler = new Sampler(options);
        int[] history = new int[promptIds.length + maxNew];
        System.arraycopy(promptIds, 0, history, 0, promptIds.length);
        int length = promptIds.length;
        KvCache cache = model.newCache(promptIds.length + maxNew);

        long start = System.nanoTime();
        float[] logits = model.forwardCached(promptIds.clone(), cache);
        long prefillEnd = System.nanoTime();
        int[] step = new int[1];
        GenerationResult.StopReason reason = GenerationResult.StopReason.MAX_NEW_TOKENS;
        int rows = promptIds.length;
        while (true) {
            checkLogits(logits, rows, vocab);
            int next = sampler.sample(logits, (rows - 1) * vocab, vocab, history, length, rng);
            history[length++] = next;
            out.add(next);
            sink.onToken(next);
            if (options.stopTokenIds().contains(next)) {
                reason = GenerationResult.StopReason.STOP_TOKEN;
                break;
            }
            if (out.size() == maxNew) break;
            step[0] = next;
            logits = model.forwardCached(step, cache);
            rows = 1;
        }
        long end = System.nanoTime();

        double prefillSeconds = (prefillEnd - start) * 1e-9;
        double decodeSeconds = (end - prefillEnd) * 1e-9;
        int decodeSteps = out.size() - 1;
        double tokensPerSecond = decodeSteps > 0 && decodeSeconds > 0 ? decodeSteps / decodeSeconds : 0;
        return new GenerationResult(out, promptIds.length, out.size(), prefillSeconds, decodeSeconds,
                tokensPerSecond, reason);
    }

    private static void checkLogits(float[] logits, int rows, int vocab) {
        if (logits == null || logits.length != (long) rows * vocab) {
            throw new IllegalStateException("forwardCached returned " + (logits == null ? "null" : logits.length
                    + " logits") + " for " + rows + " token(s); expected " + rows + " x " + vocab);
        }
    }
}
