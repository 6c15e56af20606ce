package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class EmbeddingKernelTest {
    private static final int[] DIMS = {1, 7, 33, 129, 1000};

    @Test
    void gatherCopiesTheRowsOfTheIds() {
        Random rnd = new Random(71);
        for (int dim : DIMS) {
            int vocab = 50;
            float[] table = random(rnd, vocab * dim);
            int[] ids = {3, 0, 49, 3, 17, 3, 0};
            float[] out = new float[ids.length * dim];
            EmbeddingKernel.gather(table, dim, ids, out);
            for (int t = 0; t < ids.length; t++) {
                for (int c = 0; c < dim; c++) {
                    assertEquals(table[ids[t] * dim + c], out[t * dim + c], "dim=" + dim + " t=" + t + " c=" + c);
                }
            }
        }
    }

    @Test
    void scatterAddAccumulatesRepeatedIdsIntoPrefilledGradient() {
        Random rnd = new Random(72);
        for (int dim : DIMS) {
            for (int tokens : new int[] {1, 7, 512}) {
                int vocab = 11;
                int[] ids = new int[tokens];
                // Mostly a handful of ids, so that many positions hit the same row (and, when parallel, the
                // same row from different threads' points of view).
                for (int t = 0; t < tokens; t++) ids[t] = rnd.nextInt(4) == 0 ? rnd.nextInt(vocab) : rnd.nextInt(3);
                float[] dOut = random(rnd, tokens * dim);
                float[] dTable = random(rnd, vocab * dim);
                double[] expected = new double[dTable.length];
                for (int i = 0; i < dTable.length; i++) expected[i] = dTable[i];
                for (int t = 0; t < tokens; t++) {
                    for (int c = 0; c < dim; c++) expected[ids[t] * dim + c] += dOut[t * dim + c];
                }
                EmbeddingKernel.scatterAdd(dOut, ids, dim, dTable);
                for (int i = 0; i < dTable.length; i++) {
                    assertEquals(expected[i], dTable[i], 1e-5 * (1 + Math.sqrt(tokens)), "dim=" + dim + " tokens=" + tokens + " i=" + i);
                }
            }
        }
    }

    @Test
    void scatterAddIsTheAdjointOfGather() {
        // <gather(T), G> = <T, scatterAdd(G)> for any table T and output gradient G.
        Random rnd = new Random(73);
        int dim = 33;
        int vocab = 20;
        int[] ids = {1, 1, 19, 0, 5, 1};
        float[] table = random(rnd, vocab * dim);
        float[] g = random(rnd, ids.length * dim);
        float[] out = new float[g.length];
        EmbeddingKernel.gather(table, dim, ids, out);
        float[] dTable = new float[table.length];
        EmbeddingKernel.scatterAdd(g, ids, dim, dTable);
        double lhs = 0;
        double rhs = 0;
        for (int i = 0; i < out.length; i++) lhs += (double) out[i] * g[i];
        for (int i = 0; i < table.length; i++) rhs += (double) table[i] * dTable[i];
        assertEquals(lhs, rhs, 1e-4);
    }

    @Test
    void rejectsIdsOutsideTheVocabularyNamingPositionAndId() {
        float[] table = new float[10 * 4];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingKernel.gather(table, 4, new int[] {0, 9, 10}, new float[12]));
        assertTrue(e.getMessage().contains("10") && e.getMessage().contains("position 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingKernel.gather(table, 4, new int[] {-1}, new float[4]));
        assertTrue(e.getMessage().contains("-1") && e.getMessage().contains("position 0"), e.getMessage());

        float[] dTable = new float[40];
        assertThrows(IllegalArgumentException.class,
                () -> EmbeddingKernel.scatterAdd(new float[8], new int[] {2, 12}, 4, dTable));
        assertArrayEquals(new float[40], dTable, "nothing written before the check");
        assertThrows(IllegalArgumentException.class, () -> EmbeddingKernel.gather(table, 3, new int[] {0}, new float[3]));
        assertThrows(IllegalArgumentException.class, () -> EmbeddingKernel.gather(table, 4, new int[] {0, 1}, new float[7]));
        assertThrows(IllegalArgumentException.class, () -> EmbeddingKernel.scatterAdd(new float[7], new int[] {0, 1}, 4, dTable));
    }

    private static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}
