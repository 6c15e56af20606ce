package dev.lora4j.kernel;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * Embedding lookup: gathering rows of a table [vocab, dim] by token id, and its backward, adding each
 * token's gradient back into the row it came from.
 */
public final class EmbeddingKernel {
    private EmbeddingKernel() {}

    /** out[t] = table[ids[t]] for every position t; out is [ids.length, dim]. */
    public static void gather(float[] table, int dim, int[] ids, float[] out) {
        checkIds(table, dim, ids, "table");
        VectorMath.checkLength("out", out, (long) ids.length * dim);
        for (int t = 0; t < ids.length; t++) System.arraycopy(table, ids[t] * dim, out, t * dim, dim);
    }

    /** out[t] = table[ids[t]] with the table [vocab, dim] read in place from a (mapped) segment. */
    public static void gather(MemorySegment table, SegmentFormat format, int dim, int[] ids, float[] out) {
        long vocab = table.byteSize() / format.bytes() / dim;
        if (vocab * dim * format.bytes() != table.byteSize()) {
            throw new IllegalArgumentException("table segment of " + table.byteSize() + " bytes is not [vocab, " + dim + "] " + format);
        }
        VectorMath.checkLength("out", out, (long) ids.length * dim);
        GemmEngine.BOperand src = GemmEngine.BOperand.of(table, format, dim);
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[t] + " at position " + t + " is outside the vocabulary [0, " + vocab + ")");
            }
            src.read((long) ids[t] * dim, out, t * dim, dim);
        }
    }

    /** dTable[ids[t]] += dOut[t] for every position t; repeated ids accumulate. */
    public static void scatterAdd(float[] dOut, int[] ids, int dim, float[] dTable) {
        checkIds(dTable, dim, ids, "dTable");
        VectorMath.checkLength("dOut", dOut, (long) ids.length * dim);
        // Repeated ids make rows of dTable collide, so threads split the columns instead: each owns a
        // vector-aligned slice of every row and no element is written by two of them.
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        int slices = (dim + lanes - 1) / lanes;
        VectorMath.forRows(slices, (long) ids.length * lanes, (chunk, from, to) -> {
            int c0 = from * lanes;
            int width = Math.min(dim, to * lanes) - c0;
            for (int t = 0; t < ids.length; t++) VectorMath.axpy(1f, dOut, t * dim + c0, dTable, ids[t] * dim + c0, width);
        });
    }

    /**
     * out[t] = column ids[t] of a table stored transposed, [rank, vocab]: how LoRA's embedding A [r, vocab]
     * is looked up without materialising its transpose. out is [ids.length, rank].
     */
    public static void gatherColumns(float[] table, int rank, int[] ids, float[] out) {
        checkIds(table, rank, ids, "table");
        int vocab = table.length / rank;
        VectorMath.checkLength("out", out, (long) ids.length * rank);
        for (int t = 0; t < ids.length; t++) {
            for (int j = 0; j < rank; j++) out[t * rank + j] = table[j * vocab + ids[t]];
        }
    }

    /** The backward of {@link #gatherColumns}: dTable[:, ids[t]] += dOut[t]. Serial: rank is small. */
    public static void scatterAddColumns(float[] dOut, int[] ids, int rank, float[] dTable) {
        checkIds(dTable, rank, ids, "dTable");
        int vocab = dTable.length / rank;
        VectorMath.checkLength("dOut", dOut, (long) ids.length * rank);
        for (int t = 0; t < ids.length; t++) {
            for (int j = 0; j < rank; j++) dTable[j * vocab + ids[t]] += dOut[t * rank + j];
        }
    }

    /** Checks dim and every id against a table [vocab, dim], before anything is written. */
    private static void checkIds(float[] table, int dim, int[] ids, String tableName) {
        if (dim <= 0) throw new IllegalArgumentException("embedding dim must be positive, got " + dim);
        if (table.length % dim != 0) {
            throw new IllegalArgumentException(tableName + " has " + table.length + " elements, not a multiple of dim " + dim);
        }
        int vocab = table.length / dim;
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[t] + " at position " + t
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }
}
