package dev.lora4j.kernel;

/** Placeholder engine: plain loops, replaced by the packed, register-tiled kernel. */
final class GemmEngine {
    private GemmEngine() {}

    static void run(int m, int n, int k, float[] a, int aOff, int lda, boolean transA,
                    float[] b, int bOff, int ldb, boolean transB,
                    float[] c, int cOff, int ldc, boolean accumulate) {
        Parallel.parallelFor(0, m, i -> {
            for (int j = 0; j < n; j++) {
                float s = 0;
                for (int p = 0; p < k; p++) {
                    float av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    float bv = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    s += av * bv;
                }
                int ci = cOff + i * ldc + j;
                c[ci] = accumulate ? c[ci] + s : s;
            }
        });
    }
}
