package dev.lora4j.data;

/**
 * A causal-LM batch, row-major {@code [batch, seq]} int arrays.
 *
 * <p>{@code labels} are already <b>shifted</b>: {@code labels[b*seq + t]} is the target of position t, i.e. the
 * token at t+1 (or -100 where it must not count: padding, masked prompt, and the last real position of each
 * row, which has no next token). A trainer can call {@code crossEntropy(logits, labels)} directly, ignoring -100.
 * {@code attentionMask} is 1 on real tokens and 0 on padding.
 */
public record CausalLmBatch(int[] inputIds, int[] labels, int[] attentionMask, int batch, int seq) {
    public CausalLmBatch {
        int n = batch * seq;
        if (batch <= 0 || seq <= 0 || inputIds.length != n || labels.length != n || attentionMask.length != n) {
            throw new IllegalArgumentException("arrays must all hold batch*seq = " + batch + "*" + seq + " values");
        }
    }

    /** Number of positions with a target (label != -100), the denominator of a mean loss. */
    public int targetCount() {
        int c = 0;
        for (int l : labels) if (l != CausalLmExample.IGNORE) c++;
        return c;
    }
}
