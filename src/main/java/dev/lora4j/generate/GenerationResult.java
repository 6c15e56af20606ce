package dev.lora4j.generate;

import java.util.List;

/**
 * What {@link Generator#generateWithStats} produced, and how fast.
 *
 * @param ids                   the generated ids, prompt excluded, stop token included when one ended it
 * @param promptTokens          length of the prompt
 * @param generatedTokens       {@code ids.size()}
 * @param prefillSeconds        time of the one forward pass over the whole prompt
 * @param decodeSeconds         time after the prefill until the last token was chosen: the one-token forward
 *                              passes, sampling and the listener's work
 * @param decodeTokensPerSecond one-token forward passes (generatedTokens - 1: the first token comes from the
 *                              prefill's logits, the last is never fed back) per decodeSeconds; 0 when there
 *                              were none
 * @param stopReason            why generation ended
 */
public record GenerationResult(
        List<Integer> ids,
        int promptTokens,
        int generatedTokens,
        double prefillSeconds,
        double decodeSeconds,
        double decodeTokensPerSecond,
        StopReason stopReason) {

    public enum StopReason {
        /** A token of {@link SamplingOptions#stopTokenIds()} was produced (and is the last of {@code ids}). */
        STOP_TOKEN,
        /** {@link SamplingOptions#maxNewTokens()} tokens were produced. */
        MAX_NEW_TOKENS
    }

    public GenerationResult {
        ids = List.copyOf(ids);
    }

    /** The generated ids as an array. */
    public int[] idsArray() {
        int[] a = new int[ids.size()];
        for (int i = 0; i < a.length; i++) a[i] = ids.get(i);
        return a;
    }
}
