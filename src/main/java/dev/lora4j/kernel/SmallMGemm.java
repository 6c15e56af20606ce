package dev.lora4j.kernel;

import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM with only a few rows in A ({@link #MAX_M_NT} or {@link #MAX_M_NN} or fewer, A not transposed): decoding, where each product is one
 * token per sequence times a weight. The packed engine would copy all of B into panels (reading and writing every
 * weight once more than the product itself does) and then run its 6-row micro-kernel on mostly padding rows; here B
 * is streamed once, straight from the heap, a mapped segment or a quantized matrix, with no packing:
 * <ul>
 *   <li>nt (C = A·Bᵀ, B [N, K], a weight [out, in]): every C element is the dot product of an A row and a B row,
 *       both contiguous. Four B rows and two A rows at a time, so that each load feeds two or four FMAs;</li>
 *   <li>nn (C = A·B, B [K, N], cached attention's probabilities times values): four L-wide column strips of a C
 *       row at a time kept in registers while B's rows stream past, Σ_p a(i, p)·B[p, strips].</li>
 * </ul>
 * A weight that is not a heap array is widened to F32 a few rows (nt) or a block of row pieces (nn) at a time into a
 * small per-thread buffer that stays in L1, and then goes through the very same arithmetic as a heap array: each C
 * element's sum has one order whatever B's storage, so a weight read in place from a checkpoint or decoded from NF4
 * gives the same bits as the same values on the heap. That order does depend on M's side of the threshold (the
 * packed engine sums in another), so a row's result may differ by rounding between a decode step and a prefill.
 *
 * <p>Parallel over N unless the caller asks for serial (small products, calls from a kernel worker); each task owns
 * its columns of C, so the split changes no sum.
 */
final class SmallMGemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /**
     * The most rows of A taken here, per layout. B is streamed once whatever M is, but with more rows the packed
     * engine's 6-row register tile does more work per load than these kernels. Measured: in isolation (bench gemm,
     * N x K = 576 x 576 and 1536 x 576, a loaded 2-core machine) nt is ahead of the packed engine through 8 rows,
     * about even at 16 and behind at 32, nn ahead through 4 to 8 rows and behind at 16; in the serving benchmark
     * (16 sequences decoding together, so M = 16 in every projection; `bench serve`, quiet machine, 3 rounds each) an
     * nt threshold of 16 instead of 8 raised the batched server from 59-78 to 86-94 tokens/s, since packing reads
     * and writes every weight once more per step.
     */
    static final int MAX_M_NT = Integer.getInteger("lora4j.gemm.smallm.nt", 16);
    static final int MAX_M_NN = Integer.getInteger("lora4j.gemm.smallm.nn", 8);
    /** nt: B rows decoded and dotted together. */
    private static final int ROW_GROUP = 4;
    /** nn: K rows of a non-heap B widened per block, so the buffer (BLOCK_K × STRIP_TASK floats) fits in L1. */
    private static final int BLOCK_K = 32;
    /** nn: columns per parallel task, a multiple of every vector length (so strips line up with the serial grid). */
    private static final int STRIP_TASK = 128;

    private static final ThreadLocal<float[]> ROWS = ThreadLocal.withInitial(() -> new float[0]);

    private SmallMGemm() {}

    /** Whether C (+)= A·op(B) with {@code m} rows and A not transposed is run here. */
    static boolean applies(int m, boolean transA, boolean transB) {
        return !transA && m <= (transB ? MAX_M_NT : MAX_M_NN);
    }

    /** C[M,N] += A[M,K]·Bᵀ, B [N,K]; C already zeroed when not accumulated into. */
    static void nt(int m, int n, int k, float[] a, int aOff, int lda, GemmEngine.BOperand b,
                   float[] c, int cOff, int ldc, boolean serial) {
        int groups = (n + ROW_GROUP - 1) / ROW_GROUP;
        IntConsumer group = g -> ntGroup(g * ROW_GROUP, Math.min(ROW_GROUP, n - g * ROW_GROUP), m, k, a, aOff, lda, b, c, cOff, ldc);
        int tasks = taskCount(serial, groups);
        if (tasks == 1) {
            for (int g = 0; g < groups; g++) group.accept(g);
        } else {
            // Contiguous runs of row groups per task: each task streams one stretch of B.
            Parallel.parallelFor(0, tasks, t -> {
                int end = (int) ((long) groups * (t + 1) / tasks);
                for (int g = (int) ((long) groups * t / tasks); g < end; g++) group.accept(g);
            });
        }
    }

    private static int taskCount(boolean serial, int items) {
        if (serial) return 1;
        // A few tasks per thread so that a thread slowed by another process does not hold up the rest.
        return Math.max(1, Math.min(items, 4 * Parallel.threads()));
    }

    /** Columns j0..j0+count-1 of C (count ≤ 4), for every row of A. */
    private static void ntGroup(int j0, int count, int m, int k, float[] a, int aOff, int lda, GemmEngine.BOperand b,
                                float[] c, int cOff, int ldc) {
        float[] rows;
        int base, ld;
        if (b.array() != null) {
            rows = b.array();
            base = b.offset() + j0 * b.ld();
            ld = b.ld();
        } else {
            rows = buffer(ROW_GROUP * k);
            // One call for the whole group when its rows are back to back (a weight of its own always is): a call
            // per row measured as a sizeable share of a mapped F32 product.
            if (b.ld() == k) b.read((long) j0 * k, rows, 0, count * k);
            else for (int r = 0; r < count; r++) b.read((long) (j0 + r) * b.ld(), rows, r * k, k);
            base = 0;
            ld = k;
        }
        int i = 0;
        if (count == ROW_GROUP) {
            for (; i + 2 <= m; i += 2) dot4x2(a, aOff + i * lda, lda, rows, base, ld, k, c, cOff + i * ldc + j0, ldc);
        }
        for (; i < m; i++) {
            int ai = aOff + i * lda, ci = cOff + i * ldc + j0;
            if (count == ROW_GROUP) {
                VectorMath.dot4(a, ai, rows, base, ld, k, c, ci);
            } else {
                for (int r = 0; r < count; r++) c[ci + r] += VectorMath.dot(a, ai, rows, base + r * ld, k);
            }
        }
    }

    /**
     * {@link #dot4} for two rows of A at once: eight accumulators, each load of A or B feeding two or four FMAs,
     * so that with several rows the loop is bound by FMAs rather than loads. Each sum is still formed as dot4 forms it.
     */
    private static void dot4x2(float[] a, int ai, int lda, float[] b, int b0, int ld, int k, float[] c, int ci, int ldc) {
        int a1 = ai + lda, b1 = b0 + ld, b2 = b1 + ld, b3 = b2 + ld;
        FloatVector s00 = FloatVector.zero(S), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        int p = 0;
        for (int bound = S.loopBound(k); p < bound; p += L) {
            FloatVector x0 = FloatVector.fromArray(S, a, ai + p), x1 = FloatVector.fromArray(S, a, a1 + p);
            FloatVector w = FloatVector.fromArray(S, b, b0 + p);
            s00 = x0.fma(w, s00);
            s10 = x1.fma(w, s10);
            w = FloatVector.fromArray(S, b, b1 + p);
            s01 = x0.fma(w, s01);
            s11 = x1.fma(w, s11);
            w = FloatVector.fromArray(S, b, b2 + p);
            s02 = x0.fma(w, s02);
            s12 = x1.fma(w, s12);
            w = FloatVector.fromArray(S, b, b3 + p);
            s03 = x0.fma(w, s03);
            s13 = x1.fma(w, s13);
        }
        float r00 = VectorMath.sumLanes(s00), r01 = VectorMath.sumLanes(s01), r02 = VectorMath.sumLanes(s02), r03 = VectorMath.sumLanes(s03);
        float r10 = VectorMath.sumLanes(s10), r11 = VectorMath.sumLanes(s11), r12 = VectorMath.sumLanes(s12), r13 = VectorMath.sumLanes(s13);
        for (; p < k; p++) {
            float x0 = a[ai + p], x1 = a[a1 + p];
            float w0 = b[b0 + p], w1 = b[b1 + p], w2 = b[b2 + p], w3 = b[b3 + p];
            r00 += x0 * w0;
            r01 += x0 * w1;
            r02 += x0 * w2;
            r03 += x0 * w3;
            r10 += x1 * w0;
            r11 += x1 * w1;
            r12 += x1 * w2;
            r13 += x1 * w3;
        }
        int c1 = ci + ldc;
        c[ci] += r00;
        c[ci + 1] += r01;
        c[ci + 2] += r02;
        c[ci + 3] += r03;
        c[c1] += r10;
        c[c1 + 1] += r11;
        c[c1 + 2] += r12;
        c[c1 + 3] += r13;
    }

    /** C[M,N] += A[M,K]·B, B [K,N]; C already zeroed when not accumulated into. */
    static void nn(int m, int n, int k, float[] a, int aOff, int lda, GemmEngine.BOperand b,
                   float[] c, int cOff, int ldc, boolean serial) {
        int chunks = (n + STRIP_TASK - 1) / STRIP_TASK;
        IntConsumer chunk = t -> {
            int j0 = t * STRIP_TASK, width = Math.min(STRIP_TASK, n - j0);
            if (b.array() != null) {
                strips(m, width, 0, k, a, aOff, lda, b.array(), b.offset() + j0, b.ld(), c, cOff + j0, ldc);
                return;
            }
            // Widen a block of K rows of this task's columns, then run the same loop over it: C carries each
            // element's sum from block to block, so the order of its additions is that of the heap case.
            float[] rows = buffer(BLOCK_K * width);
            for (int p0 = 0; p0 < k; p0 += BLOCK_K) {
                int kb = Math.min(BLOCK_K, k - p0);
                for (int p = 0; p < kb; p++) b.read((long) (p0 + p) * b.ld() + j0, rows, p * width, width);
                strips(m, width, p0, kb, a, aOff, lda, rows, 0, width, c, cOff + j0, ldc);
            }
        };
        if (serial || chunks == 1) for (int t = 0; t < chunks; t++) chunk.accept(t);
        else Parallel.parallelFor(0, chunks, chunk);
    }

    /**
     * C[:, 0:width] += A[:, p0:p0+kb]·B[0:kb, 0:width]: four L-wide strips of a C row (a quarter of a 16-lane
     * register file per row) held in registers over the whole run of K, each broadcast of A feeding four FMAs and
     * each pass over B covering 4L columns: one strip at a time walked B's rows four times as often, a new cache line
     * and often a new page per load. The strips left over go one at a time, columns past the last whole strip in
     * scalars. Every element's sum is the same chain, from C, in the order of p, whichever of these computes it.
     */
    private static void strips(int m, int width, int p0, int kb, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                               float[] c, int cOff, int ldc) {
        int j = 0;
        for (; j + 4 * L <= width; j += 4 * L) {
            for (int i = 0; i < m; i++) {
                int c0 = cOff + i * ldc + j, a0 = aOff + i * lda + p0;
                FloatVector s0 = FloatVector.fromArray(S, c, c0), s1 = FloatVector.fromArray(S, c, c0 + L);
                FloatVector s2 = FloatVector.fromArray(S, c, c0 + 2 * L), s3 = FloatVector.fromArray(S, c, c0 + 3 * L);
                for (int p = 0; p < kb; p++) {
                    int bp = bOff + p * ldb + j;
                    FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
                    s0 = FloatVector.fromArray(S, b, bp).fma(x, s0);
                    s1 = FloatVector.fromArray(S, b, bp + L).fma(x, s1);
                    s2 = FloatVector.fromArray(S, b, bp + 2 * L).fma(x, s2);
                    s3 = FloatVector.fromArray(S, b, bp + 3 * L).fma(x, s3);
                }
                s0.intoArray(c, c0);
                s1.intoArray(c, c0 + L);
                s2.intoArray(c, c0 + 2 * L);
                s3.intoArray(c, c0 + 3 * L);
            }
        }
        for (int bound = S.loopBound(width); j < bound; j += L) {
            for (int i = 0; i < m; i++) {
                int c0 = cOff + i * ldc + j, a0 = aOff + i * lda + p0;
                FloatVector s0 = FloatVector.fromArray(S, c, c0);
                for (int p = 0; p < kb; p++) s0 = FloatVector.fromArray(S, b, bOff + p * ldb + j).fma(FloatVector.broadcast(S, a[a0 + p]), s0);
                s0.intoArray(c, c0);
            }
        }
        for (; j < width; j++) {
            for (int i = 0; i < m; i++) {
                int a0 = aOff + i * lda + p0;
                float s = c[cOff + i * ldc + j];
                for (int p = 0; p < kb; p++) s += a[a0 + p] * b[bOff + p * ldb + j];
                c[cOff + i * ldc + j] = s;
            }
        }
    }

    private static float[] buffer(int size) {
        float[] buf = ROWS.get();
        if (buf.length < size) {
            buf = new float[size];
            ROWS.set(buf);
        }
        return buf;
    }
}
