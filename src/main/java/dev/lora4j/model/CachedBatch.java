package dev.lora4j.model;

/**
 * Several independent sequences decoded in one forward pass (continuous batching): sequence i brings
 * {@code tokens[i]} (a whole prompt when it is new, one token per step after that), which follow what its own
 * {@code caches[i]} holds. The rows of all sequences are laid end to end, so the linear layers see one
 * [rows, hidden] matrix (one GEMM per weight for the whole batch), while attention runs per sequence over its
 * own cache.
 *
 * @param ids       every sequence's new tokens, concatenated
 * @param positions each row's position in its own sequence (its cache length plus its index among the new tokens)
 * @param offsets   first row of sequence i; {@code offsets[i + 1] - offsets[i]} rows belong to it ({@code
 *                  offsets.length == caches.length + 1})
 */
public record CachedBatch(int[] ids, int[] positions, int[] offsets, KvCache[] caches) {

    /** Lays out the sequences' new tokens; each needs at least one. */
    public static CachedBatch of(int[][] tokens, KvCache[] caches) {
        if (tokens.length != caches.length) {
            throw new IllegalArgumentException(tokens.length + " token arrays for " + caches.length + " caches");
        }
        if (tokens.length == 0) throw new IllegalArgumentException("a cached batch needs at least one sequence");
        int[] offsets = new int[tokens.length + 1];
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i].length == 0) throw new IllegalArgumentException("sequence " + i + " of the batch has no new token");
            offsets[i + 1] = offsets[i] + tokens[i].length;
        }
        int[] ids = new int[offsets[tokens.length]], positions = new int[ids.length];
        for (int i = 0; i < tokens.length; i++) {
            System.arraycopy(tokens[i], 0, ids, offsets[i], tokens[i].length);
            for (int t = 0; t < tokens[i].length; t++) positions[offsets[i] + t] = caches[i].length() + t;
        }
        return new CachedBatch(ids, positions, offsets, caches);
    }

    public int sequences() {
        return caches.length;
    }

    public int rows() {
        return ids.length;
    }

    /** Rows of sequence i. */
    public int length(int i) {
        return offsets[i + 1] - offsets[i];
    }

    /** The largest position any sequence reaches, plus one. */
    public int maxLength() {
        int m = 0;
        for (int i = 0; i < caches.length; i++) m = Math.max(m, caches[i].length() + length(i));
        return m;
    }

    /** Called after every layer appended: each cache takes in its sequence's new tokens. */
    public void advanceCaches() {
        for (int i = 0; i < caches.length; i++) caches[i].advance(length(i));
    }
}
