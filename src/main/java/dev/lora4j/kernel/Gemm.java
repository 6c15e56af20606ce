package dev.lora4j.kernel;

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
 * thread run serially; otherwise the work is split over {@link Parallel}.
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
}
