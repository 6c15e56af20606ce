package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The few-rows path ({@link SmallMGemm}, M up to its threshold, and the packed engine just above it) against a
 * double-precision triple loop, for every kind of B: heap arrays (with offsets and leading dimensions), F32, BF16 and
 * F16 segments, NF4 and INT8 matrices. N and K are not multiples of the vector width, of the row group or of the
 * blocks; one shape is large enough to run in parallel.
 */
class SmallMGemmTest {
    /** Both thresholds and one row past each (the packed engine). */
    static final int[] ROWS = {1, 2, 3, 5, SmallMGemm.MAX_M_NN, SmallMGemm.MAX_M_NN + 1, SmallMGemm.MAX_M_NT, SmallMGemm.MAX_M_NT + 1};
    /** {n, k}: odd sizes, one K below a vector, one product above the parallel threshold, nn widths over 128. */
    static final int[][] SIZES = {{37, 61}, {70, 13}, {150, 45}, {333, 517}};

    enum Kind { HEAP, F32, BF16, F16, NF4, INT8 }

    /** A weight [rows, cols] stored as one kind of B operand, and the F32 values that operand holds. */
    record Weight(float[] values, float[] heap, MemorySegment segment, SegmentFormat format, QuantizedMatrix quantized) {
        static Weight of(Kind kind, float[] w, int rows, int cols, Arena arena) {
            return switch (kind) {
                case HEAP -> new Weight(w, w, null, null, null);
                case F32, BF16, F16 -> {
                    SegmentFormat f = SegmentFormat.valueOf(kind.name());
                    MemorySegment seg = arena.allocate((long) w.length * f.bytes());
                    yield new Weight(GemmSegmentTest.store(w, f, seg), null, seg, f, null);
                }
                case NF4, INT8 -> {
                    QuantizedMatrix q = GemmQuantizedTest.quantize(kind.name().toLowerCase(), w, rows, cols);
                    yield new Weight(q.dequantize(), null, null, null, q);
                }
            };
        }

        void nt(int m, int n, int k, float[] a, float[] c, boolean accumulate) {
            if (heap != null) Gemm.nt(m, n, k, a, heap, c, accumulate);
            else if (segment != null) Gemm.nt(m, n, k, a, segment, format, c, accumulate);
            else Gemm.nt(m, n, k, a, quantized, c, accumulate);
        }

        void nn(int m, int n, int k, float[] a, float[] c, boolean accumulate) {
            if (heap != null) Gemm.nn(m, n, k, a, heap, c, accumulate);
            else if (segment != null) Gemm.nn(m, n, k, a, segment, format, c, accumulate);
            else Gemm.nn(m, n, k, a, quantized, c, accumulate);
        }
    }

    @Test
    void ntAndNnMatchTheReferenceForEveryKindOfB() {
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            for (int[] size : SIZES) {
                int n = size[0], k = size[1];
                float[] w = GemmTest.random(rnd, n * k);
                for (Kind kind : Kind.values()) {
                    Weight nt = Weight.of(kind, w, n, k, arena);
                    for (int m : ROWS) {
                        for (boolean accumulate : new boolean[] {false, true}) {
                            String what = kind + " m=" + m + " n=" + n + " k=" + k + " acc=" + accumulate;
                            // nt: W [n, k] as B [N, K].
                            float[] a = GemmTest.random(rnd, m * k), c0 = GemmTest.random(rnd, m * n), c = c0.clone();
                            nt.nt(m, n, k, a, c, accumulate);
                            assertClose(reference(m, n, k, a, 0, k, nt.values(), 0, k, true, c0, 0, n, accumulate), c, what + " nt");
                            // nn: the same W read as B [K = n, N = k].
                            float[] dy = GemmTest.random(rnd, m * n), g0 = GemmTest.random(rnd, m * k), g = g0.clone();
                            nt.nn(m, k, n, dy, g, accumulate);
                            assertClose(reference(m, k, n, dy, 0, n, nt.values(), 0, k, false, g0, 0, k, accumulate), g, what + " nn");
                        }
                    }
                }
            }
        }
    }

    @Test
    void offsetsAndLeadingDimensionsOfHeapOperands() {
        Random rnd = new Random(8);
        int pad = 3, off = 5;
        for (int m : ROWS) {
            for (int[] size : SIZES) {
                int n = size[0], k = size[1];
                for (boolean nt : new boolean[] {true, false}) {
                    int bRows = nt ? n : k, bCols = nt ? k : n;
                    int lda = k + pad, ldb = bCols + pad, ldc = n + pad;
                    float[] a = GemmTest.random(rnd, off + m * lda), b = GemmTest.random(rnd, off + bRows * ldb);
                    float[] c0 = GemmTest.random(rnd, off + m * ldc), c = c0.clone();
                    if (nt) Gemm.nt(m, n, k, a, off, lda, b, off, ldb, c, off, ldc, true);
                    else Gemm.nn(m, n, k, a, off, lda, b, off, ldb, c, off, ldc, true);
                    float[] expected = reference(m, n, k, a, off, lda, b, off, ldb, nt, c0, off, ldc, true);
                    assertClose(expected, c, (nt ? "nt" : "nn") + " m=" + m + " n=" + n + " k=" + k);
                }
            }
        }
    }

    @Test
    void everyKindOfBGivesTheBitsOfItsValuesOnTheHeap() {
        // Decode reads a weight in place or decodes it, and must compute what the same values on the heap compute.
        Random rnd = new Random(13);
        int n = 333, k = 517;
        float[] w = GemmTest.random(rnd, n * k);
        try (Arena arena = Arena.ofShared()) {
            for (Kind kind : Kind.values()) {
                Weight weight = Weight.of(kind, w, n, k, arena);
                for (int m : ROWS) {
                    float[] a = GemmTest.random(rnd, m * Math.max(n, k)), fromHeap = new float[m * n], fromKind = new float[m * n];
                    Gemm.nt(m, n, k, a, weight.values(), fromHeap, false);
                    weight.nt(m, n, k, a, fromKind, false);
                    assertArrayEquals(fromHeap, fromKind, 0f, kind + " nt m=" + m);
                    float[] g1 = new float[m * k], g2 = new float[m * k];
                    Gemm.nn(m, k, n, a, weight.values(), g1, false);
                    weight.nn(m, k, n, a, g2, false);
                    assertArrayEquals(g1, g2, 0f, kind + " nn m=" + m);
                }
            }
        }
    }

    /** C (+)= A·op(B) in double; B is [N, K] when {@code transB}, else [K, N]. */
    static float[] reference(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb, boolean transB,
                             float[] c0, int cOff, int ldc, boolean accumulate) {
        float[] c = c0.clone();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = accumulate ? c0[cOff + i * ldc + j] : 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a[aOff + i * lda + p] * (transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j]);
                }
                c[cOff + i * ldc + j] = (float) s;
            }
        }
        return c;
    }

    /** Float sums of K products in any order: within a few ulps of the sum's magnitude scale (√K·|a||b|). */
    static void assertClose(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            float tol = 2e-5f * (1 + Math.abs(expected[i])) * 8;
            assertTrue(Math.abs(expected[i] - actual[i]) <= tol,
                what + " at " + i + ": expected " + expected[i] + ", got " + actual[i]);
        }
    }
}
