package dev.lora4j.model;

/**
 * Where each sequence of a right-padded batch ends: decoder classifiers (transformers' *ForSequenceClassification
 * for GPT-2, Llama, Qwen2 ...) read the hidden state of the last real token.
 */
public final class LastToken {
    private LastToken() {}

    /**
     * Row index (b·seq + t) of the last t with mask 1 in each sequence; a null mask means every token is real; a
     * row with no real token uses t = 0, as transformers' argmax over an all-zero mask does.
     */
    public static int[] rows(int batch, int seq, int[] attentionMask) {
        int[] rows = new int[batch];
        for (int b = 0; b < batch; b++) {
            int last = seq - 1;
            if (attentionMask != null) {
                last = 0;
                for (int t = seq - 1; t >= 0; t--) {
                    if (attentionMask[b * seq + t] != 0) {
                        last = t;
                        break;
                    }
                }
            }
            rows[b] = b * seq + last;
        }
        return rows;
    }
}
