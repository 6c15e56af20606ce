package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;
import java.util.stream.Stream;

class GemmTest {

    enum Layout { NT, NN, TN }

    static Stream<Arguments> shapes() {
        int[][] mnk = {
            {1, 1, 1}, {7, 33, 129}, {33, 7, 1}, {129, 1000, 7}, {6, 32, 256}, {12, 64, 257},
            {1000, 33, 33}, {5, 5, 600}, {200, 130, 300}, {1, 1000, 129}, {300, 8, 520},
            // wide B: several column chunks and N blocks, so A is packed once and shared
            {37, 2100, 300}, {13, 4200, 70},
            // one dimension small (a LoRA rank): SkinnyGemm's expand (K), project (N) and outer (M) paths, with
            // ragged rows, columns and vector tails
            {200, 130, 8}, {90, 130, 1}, {70, 300, 16}, {130, 3, 90}, {70, 16, 300}, {8, 300, 520}, {5, 77, 200}, {16, 70, 300},
            // decode through a LoRA branch: one row, rank 8
            {1, 8, 576}, {1, 576, 8}, {3, 40, 8}, {2, 8, 30}
        };
        Stream.Builder<Arguments> b = Stream.builder();
        for (int[] s : mnk) for (Layout l : Layout.values()) for (boolean acc : new boolean[] {false, true})
            b.add(Arguments.of(l, s[0], s[1], s[2], acc));
        return b.build();
    }

    @ParameterizedTest(name = "{0} m={1} n={2} k={3} acc={4}")
    @MethodSource("shapes")
    void matchesReferenceLoop(Layout layout, int m, int n, int k, boolean accumulate) {
        Random rnd = new Random(m * 31L + n * 7L + k);
        // Leading dimensions wider than the operand and non-zero offsets: slices of bigger matrices must work.
        int pad = 3, off = 5;
        int aRows = layout == Layout.TN ? k : m, aCols = layout == Layout.TN ? m : k;
        int bRows = layout == Layout.NT ? n : k, bCols = layout == Layout.NT ? k : n;
        int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
        float[] a = random(rnd, off + aRows * lda);
        float[] b = random(rnd, off + bRows * ldb);
        float[] c = random(rnd, off + m * ldc);
        float[] expected = c.clone();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double av = layout == Layout.TN ? a[off + p * lda + i] : a[off + i * lda + p];
                    double bv = layout == Layout.NT ? b[off + j * ldb + p] : b[off + p * ldb + j];
                    s += av * bv;
                }
                int ci = off + i * ldc + j;
                expected[ci] = (float) (accumulate ? expected[ci] + s : s);
            }
        }
        switch (layout) {
            case NT -> Gemm.nt(m, n, k, a, off, lda, b, off, ldb, c, off, ldc, accumulate);
            case NN -> Gemm.nn(m, n, k, a, off, lda, b, off, ldb, c, off, ldc, accumulate);
            case TN -> Gemm.tn(m, n, k, a, off, lda, b, off, ldb, c, off, ldc, accumulate);
        }
        double tol = 1e-5 * Math.sqrt(k) * 4;
        for (int i = 0; i < c.length; i++) {
            assertEquals(expected[i], c[i], tol * (1 + Math.abs(expected[i])), "element " + i);
        }
    }

    @Test
    void serialPathInsideWorkerGivesSameResult() {
        Random rnd = new Random(1);
        int m = 150, n = 700, k = 300;
        float[] a = random(rnd, m * k), b = random(rnd, n * k);
        float[] parallel = new float[m * n], serial = new float[m * n];
        Gemm.nt(m, n, k, a, b, parallel, false);
        Parallel.parallelFor(0, 2, t -> { if (t == 0) Gemm.nt(m, n, k, a, b, serial, false); });
        for (int i = 0; i < parallel.length; i++) assertEquals(parallel[i], serial[i], 0f, "element " + i);
    }

    @Test
    void zeroKOverwritesOrKeeps() {
        float[] c = {1, 2, 3, 4};
        Gemm.nn(2, 2, 0, new float[0], new float[0], c, true);
        assertEquals(4f, c[3]);
        Gemm.nn(2, 2, 0, new float[0], new float[0], c, false);
        assertEquals(0f, c[3]);
        assertThrows(IllegalArgumentException.class, () -> Gemm.nn(-1, 2, 2, new float[4], new float[4], c, false));
    }

    static float[] random(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }
}
