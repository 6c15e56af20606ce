package dev.lora4j.kernel;

/**
 * Sentence-level reductions of token vectors: masked mean pooling over each sequence and row-wise L2
 * normalisation, as sentence-transformers computes embeddings for models such as all-MiniLM-L6-v2.
 */
public final class Pooling {
    private Pooling() {}

    /**
     * out[b] = mean of x[b·seq + s] over the positions s with mask 1; x is [batch·seq, dim], out [batch, dim].
     * A sequence with no valid position gives zeros (sentence-transformers clamps the count at 1e-9 the same way).
     */
    public static void meanForward(float[] x, int batch, int seq, int dim, int[] mask, float[] out) {
        VectorMath.checkLength("x", x, (long) batch * seq * dim);
        VectorMath.checkLength("out", out, (long) batch * dim);
        java.util.Arrays.fill(out, 0, batch * dim, 0f);
        for (int b = 0; b < batch; b++) {
            int count = validCount(mask, b, seq);
            if (count == 0) continue;
            for (int s = 0; s < seq; s++) {
                if (mask[b * seq + s] != 0) VectorMath.axpy(1f / count, x, (b * seq + s) * dim, out, b * dim, dim);
            }
        }
    }

    /** dx[b·seq + s] += dOut[b] / count for every valid position. */
    public static void meanBackward(float[] dOut, int batch, int seq, int dim, int[] mask, float[] dx) {
        for (int b = 0; b < batch; b++) {
            int count = validCount(mask, b, seq);
            if (count == 0) continue;
            for (int s = 0; s < seq; s++) {
                if (mask[b * seq + s] != 0) VectorMath.axpy(1f / count, dOut, b * dim, dx, (b * seq + s) * dim, dim);
            }
        }
    }

    private static int validCount(int[] mask, int b, int seq) {
        int c = 0;
        for (int s = 0; s < seq; s++) if (mask[b * seq + s] != 0) c++;
        return c;
    }

    /** y = x / max(‖x‖, eps) per row (torch.nn.functional.normalize); norms (length rows) kept for backward. */
    public static void l2NormalizeForward(float[] x, float[] y, float[] norms, int rows, int cols, float eps) {
        for (int r = 0; r < rows; r++) {
            float n = (float) Math.max(Math.sqrt(VectorMath.sumSquares(x, r * cols, cols)), eps);
            norms[r] = n;
            for (int c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] / n;
        }
    }

    /** dx += (dy − y·(y·dy)) / ‖x‖ per row (for rows whose norm exceeded eps; otherwise dx += dy / eps). */
    public static void l2NormalizeBackward(float[] y, float[] dy, float[] norms, float[] dx, int rows, int cols, float eps) {
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            float inv = 1f / norms[r];
            if (norms[r] > eps) {
                float dot = VectorMath.dot(y, o, dy, o, cols);
                for (int c = 0; c < cols; c++) dx[o + c] += (dy[o + c] - y[o + c] * dot) * inv;
            } else {
                for (int c = 0; c < cols; c++) dx[o + c] += dy[o + c] * inv;
            }
        }
    }
}
