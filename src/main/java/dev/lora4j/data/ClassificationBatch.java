package dev.lora4j.data;

/**
 * A sequence-classification batch: {@code inputIds}, {@code typeIds} and {@code attentionMask} are row-major
 * {@code [batch, seq]} (right padding, mask 0 on padding); {@code labels} has one class id per row.
 */
public record ClassificationBatch(int[] inputIds, int[] typeIds, int[] attentionMask, int[] labels, int batch, int seq) {
    public ClassificationBatch {
        int n = batch * seq;
        if (batch <= 0 || seq <= 0 || inputIds.length != n || typeIds.length != n || attentionMask.length != n || labels.length != batch) {
            throw new IllegalArgumentException("inputIds/typeIds/attentionMask must hold batch*seq = " + batch + "*" + seq
                    + " values and labels batch = " + batch);
        }
    }
}
