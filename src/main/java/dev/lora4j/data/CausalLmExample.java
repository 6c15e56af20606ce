package dev.lora4j.data;

import java.util.Arrays;

/**
 * One tokenized causal-LM example, not yet shifted: {@code labels[t]} is {@code inputIds[t]} where the loss
 * counts that token and {@link #IGNORE} (-100, as in PyTorch/transformers) where it does not (a masked
 * prompt). {@link Batcher} shifts labels into next-token targets.
 */
public record CausalLmExample(int[] inputIds, int[] labels) {
    /** The label value the loss skips. */
    public static final int IGNORE = -100;

    public CausalLmExample {
        if (inputIds.length != labels.length) {
            throw new IllegalArgumentException("inputIds and labels differ in length: " + inputIds.length + " vs " + labels.length);
        }
    }

    public int length() {
        return inputIds.length;
    }

    /** Number of tokens whose label is not {@link #IGNORE}. */
    public int trainedTokens() {
        int n = 0;
        for (int l : labels) if (l != IGNORE) n++;
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CausalLmExample e && Arrays.equals(inputIds, e.inputIds) && Arrays.equals(labels, e.labels);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(inputIds) + Arrays.hashCode(labels);
    }

    @Override
    public String toString() {
        return "CausalLmExample[inputIds=" + Arrays.toString(inputIds) + ", labels=" + Arrays.toString(labels) + "]";
    }
}
