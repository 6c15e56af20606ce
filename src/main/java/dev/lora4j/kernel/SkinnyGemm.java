package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM where one of M, N, K is small (at most {@link #MAX_SMALL}): the products of a LoRA branch of rank r, which
 * the packed engine runs at a few per cent of its speed (a 6x32 register tile over an 8-wide operand is mostly
 * padding, and packing the wide operand costs more than the arithmetic). Each case streams the wide operands once:
 * <ul>
 *   <li>small K ("expand", x·A or h·Bᵀ back to full width): per row of C, Σ_p a(i,p)·B[p,:] as vector FMAs;</li>
 *   <li>small N ("project", x·Aᵀ to rank r): per row of A, N dot products with vector accumulators;</li>
 *   <li>small M ("outer", the LoRA weight gradients dA = dhᵀ·x): per column strip, Σ_p a(i,p)·B[p,strip].</li>
 * </ul>
 * Operands follow {@link Gemm}'s conventions (row-major, offsets, leading dimensions, A or B transposed); C has
 * already been zeroed by the caller when it is not accumulated into.
 */
final class SkinnyGemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** The largest dimension treated as small: LoRA ranks are 4 to 64; beyond 16 the packed engine is fine. */
    static final int MAX_SMALL = 16;
    /** Rows (or column strips) per parallel task. */
    private static final int ROWS_PER_TASK = 64;

    private SkinnyGemm() {}

    /** Runs C (+)= op(A)·op(B) here when a dimension is small and this kernel handles the layout; false otherwise. */
    static boolean tryRun(int m, int n, int k, float[] a, int aOff, int lda, boolean transA,
                          float[] b, int bOff, int ldb, boolean transB, float[] c, int cOff, int ldc, boolean serial) {
        // Any M above SmallMGemm's few rows (which GemmEngine sends there first): a prefill through a LoRA branch.
        if (k <= MAX_SMALL && n > MAX_SMALL) {
            expand(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, serial);
            return true;
        }
        if (n <= MAX_SMALL && !transA) {
            project(m, n, k, a, aOff, lda, b, bOff, ldb, transB, c, cOff, ldc, serial);
            return true;
        }
        if (n <= MAX_SMALL && m > MAX_SMALL && k > MAX_SMALL) {
            // A transposed: C[i, j] = Σ_p A[p, i]·op(B)(p, j): computed as Cᵀ [N, M] by the small-M kernel, which reads
            // op(B) as its [K, N] left operand (copied into that layout when B is transposed), then added in.
            float[] bk = b;
            int bkOff = bOff, bkLd = ldb;
            if (transB) {
                bk = new float[k * n];
                for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) bk[p * n + j] = b[bOff + j * ldb + p];
                bkOff = 0;
                bkLd = n;
            }
            float[] ct = new float[n * m];
            outer(n, m, k, bk, bkOff, bkLd, false, a, aOff, lda, ct, 0, m, serial);
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[cOff + i * ldc + j] += ct[j * m + i];
            return true;
        }
        // Small M only with A transposed (dA = dhᵀ·x): a forward over a few rows (decode) never gets here, it takes
        // SmallMGemm, which treats heap, mapped and quantized weights alike so that they give bit-identical outputs.
        if (m <= MAX_SMALL && n > MAX_SMALL && k > MAX_SMALL && transA) {
            outer(m, n, k, a, aOff, lda, transB, b, bOff, ldb, c, cOff, ldc, serial);
            return true;
        }
        return false;
    }

    private static void forTasks(int items, boolean serial, java.util.function.IntConsumer task) {
        int tasks = (items + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        if (serial || tasks == 1) for (int t = 0; t < tasks; t++) task.accept(t);
        else Parallel.parallelFor(0, tasks, task);
    }

    /** Small K: C[i, :] += Σ_p op(A)(i, p)·op(B)(p, :), op(B) rows made contiguous first when B is transposed. */
    private static void expand(int m, int n, int k, float[] a, int aOff, int lda, boolean transA,
                               float[] b, int bOff, int ldb, boolean transB, float[] c, int cOff, int ldc, boolean serial) {
        if (transB && m < 4) {
            // A row or three: dot products straight from B [N, K] are cheaper than transposing B first.
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    float s = 0;
                    for (int p = 0; p < k; p++) s += (transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p]) * b[bOff + j * ldb + p];
                    c[cOff + i * ldc + j] += s;
                }
            }
            return;
        }
        float[] bRows;
        int bBase, bLd;
        if (transB) {
            bRows = new float[k * n];
            for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) bRows[p * n + j] = b[bOff + j * ldb + p];
            bBase = 0;
            bLd = n;
        } else {
            bRows = b;
            bBase = bOff;
            bLd = ldb;
        }
        forTasks(m, serial, t -> {
            float[] ai = new float[k];
            int end = Math.min(m, (t + 1) * ROWS_PER_TASK);
            for (int i = t * ROWS_PER_TASK; i < end; i++) {
                for (int p = 0; p < k; p++) ai[p] = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                int ci = cOff + i * ldc;
                int j = 0;
                for (int bound = S.loopBound(n); j < bound; j += L) {
                    FloatVector acc = FloatVector.fromArray(S, c, ci + j);
                    for (int p = 0; p < k; p++) acc = FloatVector.fromArray(S, bRows, bBase + p * bLd + j).fma(FloatVector.broadcast(S, ai[p]), acc);
                    acc.intoArray(c, ci + j);
                }
                for (; j < n; j++) {
                    float s = c[ci + j];
                    for (int p = 0; p < k; p++) s += ai[p] * bRows[bBase + p * bLd + j];
                    c[ci + j] = s;
                }
            }
        });
    }

    /** Small N, A not transposed: C[i, j] += A[i, :]·op(B)(:, j), the columns of op(B) made contiguous first. */
    private static void project(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb, boolean transB,
                                float[] c, int cOff, int ldc, boolean serial) {
        float[] cols;
        int cBase, cLd;
        if (transB) {
            cols = b;
            cBase = bOff;
            cLd = ldb;
        } else {
            cols = new float[n * k];
            for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) cols[j * k + p] = b[bOff + p * ldb + j];
            cBase = 0;
            cLd = k;
        }
        forTasks(m, serial, t -> {
            int end = Math.min(m, (t + 1) * ROWS_PER_TASK);
            for (int i = t * ROWS_PER_TASK; i < end; i++) {
                int ai = aOff + i * lda, ci = cOff + i * ldc;
                int j = 0;
                // Four columns at a time: one load of A's row chunk feeds four FMAs.
                for (; j + 4 <= n; j += 4) VectorMath.dot4(a, ai, cols, cBase + j * cLd, cLd, k, c, ci + j);
                for (; j < n; j++) c[ci + j] += VectorMath.dot(a, ai, cols, cBase + j * cLd, k);
            }
        });
    }

    /**
     * Small M: C[i, :] += Σ_p A[p, i]·op(B)(p, :) with A read as [K, M] (lda its row length) and op(B) rows
     * contiguous ({@code transB} false) or B [N, K] (true, then handled column by column). Parallel over column
     * strips, each task owning its strip of C, so no two tasks write the same element.
     */
    private static void outer(int m, int n, int k, float[] a, int aOff, int lda, boolean transB,
                              float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean serial) {
        if (transB) {
            // op(B)(p, j) = B[j, p]: C[i, j] += Σ_p A[p, i]·B[j, p], each a dot product over p with A's column i.
            float[] acol = new float[m * k];
            for (int p = 0; p < k; p++) for (int i = 0; i < m; i++) acol[i * k + p] = a[aOff + p * lda + i];
            forTasks(n, serial, t -> {
                int end = Math.min(n, (t + 1) * ROWS_PER_TASK);
                for (int j = t * ROWS_PER_TASK; j < end; j++) {
                    for (int i = 0; i < m; i++) c[cOff + i * ldc + j] += VectorMath.dot(acol, i * k, b, bOff + j * ldb, k);
                }
            });
            return;
        }
        int strips = (n + L - 1) / L;
        int perTask = Math.max(1, ROWS_PER_TASK / L);
        int tasks = (strips + perTask - 1) / perTask;
        java.util.function.IntConsumer task = t -> {
            int sEnd = Math.min(strips, (t + 1) * perTask);
            for (int s = t * perTask; s < sEnd; s++) {
                int j = s * L;
                if (j + L <= n) {
                    int i = 0;
                    // Four rows of C at a time in registers: each load of B's strip feeds four FMAs.
                    for (; i + 4 <= m; i += 4) {
                        int c0 = cOff + i * ldc + j;
                        FloatVector s0 = FloatVector.fromArray(S, c, c0), s1 = FloatVector.fromArray(S, c, c0 + ldc);
                        FloatVector s2 = FloatVector.fromArray(S, c, c0 + 2 * ldc), s3 = FloatVector.fromArray(S, c, c0 + 3 * ldc);
                        for (int p = 0; p < k; p++) {
                            FloatVector x = FloatVector.fromArray(S, b, bOff + p * ldb + j);
                            int ap = aOff + p * lda + i;
                            s0 = x.fma(FloatVector.broadcast(S, a[ap]), s0);
                            s1 = x.fma(FloatVector.broadcast(S, a[ap + 1]), s1);
                            s2 = x.fma(FloatVector.broadcast(S, a[ap + 2]), s2);
                            s3 = x.fma(FloatVector.broadcast(S, a[ap + 3]), s3);
                        }
                        s0.intoArray(c, c0);
                        s1.intoArray(c, c0 + ldc);
                        s2.intoArray(c, c0 + 2 * ldc);
                        s3.intoArray(c, c0 + 3 * ldc);
                    }
                    for (; i < m; i++) {
                        int c0 = cOff + i * ldc + j;
                        FloatVector s0 = FloatVector.fromArray(S, c, c0);
                        for (int p = 0; p < k; p++) s0 = FloatVector.fromArray(S, b, bOff + p * ldb + j).fma(FloatVector.broadcast(S, a[aOff + p * lda + i]), s0);
                        s0.intoArray(c, c0);
                    }
                } else {
                    for (int i = 0; i < m; i++) {
                        for (int jj = j; jj < n; jj++) {
                            float sum = c[cOff + i * ldc + jj];
                            for (int p = 0; p < k; p++) sum += a[aOff + p * lda + i] * b[bOff + p * ldb + jj];
                            c[cOff + i * ldc + jj] = sum;
                        }
                    }
                }
            }
        };
        if (serial || tasks == 1) for (int t = 0; t < tasks; t++) task.accept(t);
        else Parallel.parallelFor(0, tasks, task);
    }
}
