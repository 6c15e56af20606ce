package dev.lora4j.data.synthetic;

import java.util.SplittableRandom;

/**
 * Token sequences for a counting task, generated from a seed: four "signal" symbols are scattered among filler
 * symbols, and the label is the signal symbol that occurs most often (one of them is planted a clear majority).
 * The shifted task keeps the rule but swaps the alphabet: the signal symbols are ones that were filler before
 * (and the old signal symbols become filler), so a network must re-learn what to count, not how.
 */
public final class SymbolSequences {
    /** Vocabulary: ids 0..9; {@link #BASE_SIGNALS} and {@link #SHIFTED_SIGNALS} are disjoint. */
    public static final int VOCAB = 10;
    public static final int[] BASE_SIGNALS = {1, 2, 3, 4};
    public static final int[] SHIFTED_SIGNALS = {5, 6, 7, 8};

    /** Sequences [count, length] row-major and their labels (the index of the majority signal). */
    public record Set(int[] tokens, int[] labels, int length) {
        public int count() {
            return labels.length;
        }

        public int[] tokens(int[] index) {
            int[] out = new int[index.length * length];
            for (int i = 0; i < index.length; i++) System.arraycopy(tokens, index[i] * length, out, i * length, length);
            return out;
        }
    }

    private SymbolSequences() {}

    public static Set generate(int[] signals, int count, int length, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] filler = java.util.stream.IntStream.range(0, VOCAB).filter(t -> java.util.Arrays.stream(signals).noneMatch(s -> s == t)).toArray();
        int[] tokens = new int[count * length];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            int label = i % signals.length;
            labels[i] = label;
            // The majority symbol appears 4-6 times, every other signal 0-2 times: an unambiguous count.
            int[] counts = new int[signals.length];
            for (int s = 0; s < signals.length; s++) counts[s] = s == label ? 4 + rnd.nextInt(3) : rnd.nextInt(3);
            int[] seq = new int[length];
            int at = 0;
            for (int s = 0; s < signals.length; s++) for (int c = 0; c < counts[s]; c++) seq[at++] = signals[s];
            while (at < length) seq[at++] = filler[rnd.nextInt(filler.length)];
            for (int j = length - 1; j > 0; j--) {
                int k = rnd.nextInt(j + 1), t = seq[j];
                seq[j] = seq[k];
                seq[k] = t;
            }
            System.arraycopy(seq, 0, tokens, i * length, length);
        }
        return new Set(tokens, labels, length);
    }
}
