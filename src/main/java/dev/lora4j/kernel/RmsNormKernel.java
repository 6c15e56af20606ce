package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * RMS normalisation over the last dimension of a row-major [rows, cols] matrix, as LlamaRMSNorm in
 * transformers: y = x · rsqrt(mean(x²) + eps) · gamma. The forward saves each row's rsqrt for the backward.
 */
public final class RmsNormKernel {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private RmsNormKernel() {}

    /** Normalises every row of x into y (y may be x); rstd (length rows, null when no backward follows) receives rsqrt(mean(x²) + eps). */
    public static void forward(float[] x, float[] gamma, float[] y, float[] rstd, int rows, int cols, float eps) {
        VectorMath.checkShape(rows, cols);
        VectorMath.checkLength("x", x, (long) rows * cols);
        VectorMath.checkLength("y", y, (long) rows * cols);
        VectorMath.checkLength("gamma", gamma, cols);
        if (rstd != null) VectorMath.checkLength("rstd", rstd, rows);
        VectorMath.forRows(rows, cols, (chunk, from, to) -> {
            for (int r = from; r < to; r++) {
                int off = r * cols;
                float rs = (float) (1.0 / Math.sqrt(VectorMath.sumSquares(x, off, cols) / cols + eps));
                if (rstd != null) rstd[r] = rs;
                scaleRow(x, gamma, y, off, cols, rs);
            }
        });
    }

    /**
     * Adds the gradients of the forward into dx and dGamma (either may be null). With xhat = x·rstd and
     * g = dy·gamma: dx = rstd·(g - xhat·mean(g·xhat)), dGamma = Σ dy·xhat.
     */
    public static void backward(float[] dy, float[] x, float[] gamma, float[] rstd, float[] dx, float[] dGamma,
                                int rows, int cols) {
        VectorMath.checkShape(rows, cols);
        VectorMath.checkLength("dy", dy, (long) rows * cols);
        VectorMath.checkLength("x", x, (long) rows * cols);
        VectorMath.checkLength("gamma", gamma, cols);
        VectorMath.checkLength("rstd", rstd, rows);
        if (dx != null) VectorMath.checkLength("dx", dx, (long) rows * cols);
        if (dGamma != null) VectorMath.checkLength("dGamma", dGamma, cols);

        int chunks = VectorMath.chunkCount(rows, cols);
        // Per-chunk dGamma buffers, added in chunk order afterwards: no two threads write one element.
        float[][] gammaParts = dGamma != null && chunks > 1 ? new float[chunks][] : null;
        VectorMath.forChunks(rows, chunks, (chunk, from, to) -> {
            float[] dg = gammaParts != null ? (gammaParts[chunk] = new float[cols]) : dGamma;
            for (int r = from; r < to; r++) backwardRow(dy, x, gamma, rstd[r], dx, dg, r * cols, cols);
        });
        if (gammaParts != null) for (float[] part : gammaParts) VectorMath.axpy(1f, part, 0, dGamma, 0, cols);
    }

    private static void scaleRow(float[] x, float[] gamma, float[] y, int off, int n, float rs) {
        FloatVector vRs = FloatVector.broadcast(SPECIES, rs);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, x, off + i).mul(vRs).mul(FloatVector.fromArray(SPECIES, gamma, i))
                    .intoArray(y, off + i);
        }
        for (; i < n; i++) y[off + i] = x[off + i] * rs * gamma[i];
    }

    private static void backwardRow(float[] dy, float[] x, float[] gamma, float rs, float[] dx, float[] dGamma,
                                    int off, int n) {
        FloatVector vRs = FloatVector.broadcast(SPECIES, rs);
        int bound = SPECIES.loopBound(n);
        if (dx != null) {
            FloatVector acc = FloatVector.zero(SPECIES);
            int i = 0;
            for (; i < bound; i += SPECIES.length()) {
                FloatVector g = FloatVector.fromArray(SPECIES, dy, off + i).mul(FloatVector.fromArray(SPECIES, gamma, i));
                acc = g.fma(FloatVector.fromArray(SPECIES, x, off + i).mul(vRs), acc);
            }
            float sumGX = VectorMath.sumLanes(acc);
            for (; i < n; i++) sumGX += dy[off + i] * gamma[i] * x[off + i] * rs;
            float b = sumGX / n;
            FloatVector vB = FloatVector.broadcast(SPECIES, b);
            for (i = 0; i < bound; i += SPECIES.length()) {
                FloatVector g = FloatVector.fromArray(SPECIES, dy, off + i).mul(FloatVector.fromArray(SPECIES, gamma, i));
                FloatVector xhat = FloatVector.fromArray(SPECIES, x, off + i).mul(vRs);
                g.sub(xhat.mul(vB)).fma(vRs, FloatVector.fromArray(SPECIES, dx, off + i)).intoArray(dx, off + i);
            }
            for (; i < n; i++) dx[off + i] += rs * (dy[off + i] * gamma[i] - x[off + i] * rs * b);
        }
        if (dGamma != null) {
            int i = 0;
            for (; i < bound; i += SPECIES.length()) {
                FloatVector xhat = FloatVector.fromArray(SPECIES, x, off + i).mul(vRs);
                FloatVector.fromArray(SPECIES, dy, off + i).fma(xhat, FloatVector.fromArray(SPECIES, dGamma, i))
                        .intoArray(dGamma, i);
            }
            for (; i < n; i++) dGamma[i] += dy[off + i] * x[off + i] * rs;
        }
    }
}
