package dev.lora4j.kernel;

import java.lang.foreign.MemorySegment;

/**
 * Single-precision matrix multiply in the three layouts training needs, on row-major float arrays with
 * offsets and leading dimensions (so a head's slice of a [tokens, hidden] matrix is a valid operand).
 *
 * <ul>
 *   <li>{@link #nt}: C = A·Bᵀ, A [M,K], B [N,K]: the forward pass, weights stored [out, in].</li>
 *   <li>{@link #nn}: C = A·B, A [M,K], B [K,N]: the input gradient dX = dY·W.</li>
 *   <li>{@link #tn}: C = Aᵀ·B, A [K,M], B [K,N]: the weight gradient dW = dYᵀ·X.</li>
 * </ul>
 * With {@code accumulate} the product is added to C, otherwise C is overwritten. Calls from a kernel worker
 * thread run serially; otherwise the work is split over {@link Parallel}. Products with a few rows of A (decoding)
 * in nt and nn stream B as it is stored instead of packing it ({@code SmallMGemm}), whatever B's storage.
 */
public final class Gemm {
    private Gemm() {}

    /** C[M,N] (+)= A[M,K] · B[N,K]ᵀ. */
    public static void nt(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                          float[] c, int cOff, int ldc, boolean accumulate) {
        GemmEngine.run(m, n, k, a, aOff, lda, false, b, bOff, ldb, true, c, cOff, ldc, accumulate);
    }

    /** C[M,N] (+)= A[M,K] · B[K,N]. */
    public static void nn(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                          float[] c, int cOff, int ldc, boolean accumulate) {
        GemmEngine.run(m, n, k, a, aOff, lda, false, b, bOff, ldb, false, c, cOff, ldc, accumulate);
    }

    /** C[M,N] (+)= A[K,M]ᵀ · B[K,N]. */
    public static void tn(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                          float[] c, int cOff, int ldc, boolean accumulate) {
        GemmEngine.run(m, n, k, a, aOff, lda, true, b, bOff, ldb, false, c, cOff, ldc, accumulate);
    }

    /** Contiguous C[M,N] (+)= A[M,K] · B[N,K]ᵀ. */
    public static void nt(int m, int n, int k, float[] a, float[] b, float[] c, boolean accumulate) {
        nt(m, n, k, a, 0, k, b, 0, k, c, 0, n, accumulate);
    }

    /** Contiguous C[M,N] (+)= A[M,K] · B[K,N]. */
    public static void nn(int m, int n, int k, float[] a, float[] b, float[] c, boolean accumulate) {
        nn(m, n, k, a, 0, k, b, 0, n, c, 0, n, accumulate);
    }

    /** Contiguous C[M,N] (+)= A[K,M]ᵀ · B[K,N]. */
    public static void tn(int m, int n, int k, float[] a, float[] b, float[] c, boolean accumulate) {
        tn(m, n, k, a, 0, m, b, 0, n, c, 0, n, accumulate);
    }

    /**
     * C[M,N] (+)= A[M,K] · Wᵀ with W [N,K] read in place from a segment (a frozen weight in a mapped checkpoint,
     * F32/BF16/F16): the forward of a frozen linear without a heap copy of its weight. The segment must be
     * readable from the kernel threads (a shared or automatic arena, as a mapped checkpoint's is).
     */
    public static void nt(int m, int n, int k, float[] a, MemorySegment w, SegmentFormat format, float[] c, boolean accumulate) {
        checkSegment(w, format, (long) n * k);
        GemmEngine.run(m, n, k, a, 0, k, false, GemmEngine.BOperand.of(w, format, k), true, c, 0, n, accumulate);
    }

    /** C[M,N] (+)= A[M,K] · W with W [K,N] read in place from a segment: the input gradient of a frozen linear. */
    public static void nn(int m, int n, int k, float[] a, MemorySegment w, SegmentFormat format, float[] c, boolean accumulate) {
        checkSegment(w, format, (long) k * n);
        GemmEngine.run(m, n, k, a, 0, k, false, GemmEngine.BOperand.of(w, format, n), false, c, 0, n, accumulate);
    }

    /**
     * C[M,N] (+)= A[M,K] · Wᵀ with W [N,K] quantized (NF4, INT8): each panel of W is decoded to F32 as it is packed
     * (with a few rows of A, a few rows of W at a time as they are streamed), so the frozen weight is never held as a
     * full F32 copy and the kernels run unchanged.
     */
    public static void nt(int m, int n, int k, float[] a, QuantizedMatrix w, float[] c, boolean accumulate) {
        checkQuantized(w, n, k);
        GemmEngine.run(m, n, k, a, 0, k, false, GemmEngine.BOperand.of(w, k), true, c, 0, n, accumulate);
    }

    /** C[M,N] (+)= A[M,K] · W with W [K,N] quantized: the input gradient of a frozen quantized linear. */
    public static void nn(int m, int n, int k, float[] a, QuantizedMatrix w, float[] c, boolean accumulate) {
        checkQuantized(w, k, n);
        GemmEngine.run(m, n, k, a, 0, k, false, GemmEngine.BOperand.of(w, n), false, c, 0, n, accumulate);
    }

    private static void checkQuantized(QuantizedMatrix w, int rows, int cols) {
        if (w.rows() != rows || w.cols() != cols) {
            throw new IllegalArgumentException("quantized weight is [" + w.rows() + ", " + w.cols() + "], the product needs [" + rows + ", " + cols + "]");
        }
    }

    private static void checkSegment(MemorySegment w, SegmentFormat format, long elements) {
        if (w.byteSize() != elements * format.bytes()) {
            throw new IllegalArgumentException("weight segment has " + w.byteSize() + " bytes, " + elements + " " + format + " elements need "
                + elements * format.bytes());
        }
    }
}
