package dev.lora4j.tokenize;

import java.util.Arrays;

/**
 * One tokenized sequence: token ids, attention mask (1 = real token, 0 = padding), token type ids (0 for the
 * first sentence, 1 for the second of a BERT pair) and the token strings. All four have the same length.
 * {@code truncated} says the text was longer than the tokenizer's max length and lost its tail.
 * The arrays are shared, not copied: treat them as read-only.
 */
public record Encoding(int[] ids, int[] attentionMask, int[] typeIds, String[] tokens, boolean truncated) {
    /** An encoding that was not truncated. */
    public Encoding(int[] ids, int[] attentionMask, int[] typeIds, String[] tokens) {
        this(ids, attentionMask, typeIds, tokens, false);
    }

    public Encoding {
        if (attentionMask.length != ids.length || typeIds.length != ids.length || tokens.length != ids.length) {
            throw new IllegalArgumentException("encoding arrays differ in length: ids " + ids.length + ", attentionMask "
                    + attentionMask.length + ", typeIds " + typeIds.length + ", tokens " + tokens.length);
        }
    }

    /** Number of positions, padding included. */
    public int length() {
        return ids.length;
    }

    /** Number of real (unpadded) positions. */
    public int realLength() {
        int n = 0;
        for (int m : attentionMask) n += m;
        return n;
    }

    // Records compare arrays by reference; an encoding is a value, so compare contents.
    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && Arrays.equals(attentionMask, e.attentionMask)
                && Arrays.equals(typeIds, e.typeIds) && Arrays.equals(tokens, e.tokens);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + Arrays.hashCode(tokens);
    }

    @Override
    public String toString() {
        return "Encoding[ids=" + Arrays.toString(ids) + ", attentionMask=" + Arrays.toString(attentionMask)
                + ", typeIds=" + Arrays.toString(typeIds) + ", tokens=" + Arrays.toString(tokens) + "]";
    }
}
