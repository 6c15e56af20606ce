package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Layer normalisation over the last dimension of a row-major [rows, cols] matrix, as torch.nn.LayerNorm
 * (biased variance, eps inside the square root): y = (x - mean) / sqrt(var + eps) · gamma + beta.
 * The forward saves each row's mean and 1/sqrt(var + eps) so that the backward need not recompute them.
 */
public final class LayerNormKernel {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private LayerNormKernel() {}

    /**
     * Normalises every row of x into y (y may be x). mean and rstd (length rows) receive the statistics the
     * backward needs; either may be null when there will be no backward. beta may be null (no shift).
     */
    public static void forward(float[] x, float[] gamma, float[] beta, float[] y, float[] mean, float[] rstd,
                               int rows, int cols, float eps) {
        VectorMath.checkShape(rows, cols);
        VectorMath.checkLength("x", x, (long) rows * cols);
        VectorMath.checkLength("y", y, (long) rows * cols);
        VectorMath.checkLength("gamma", gamma, cols);
        if (beta != null) VectorMath.checkLength("beta", beta, cols);
        if (mean != null) VectorMath.checkLength("mean", mean, rows);
        if (rstd != null) VectorMath.checkLength("rstd", rstd, rows);
        VectorMath.forRows(rows, cols, (chunk, from, to) -> {
            for (int r = from; r < to; r++) forwardRow(x, gamma, beta, y, mean, rstd, r, cols, eps);
        });
    }

    /**
     * Adds the gradients of the forward into dx, dGamma and dBeta; any of them may be null when not needed.
     * x, gamma, mean and rstd are those of the forward.
     */
    public static void backward(float[] dy, float[] x, float[] gamma, float[] mean, float[] rstd,
                                float[] dx, float[] dGamma, float[] dBeta, int rows, int cols) {
        VectorMath.checkShape(rows, cols);
        VectorMath.checkLength("dy", dy, (long) rows * cols);
        VectorMath.checkLength("x", x, (long) rows * cols);
        VectorMath.checkLength("gamma", gamma, cols);
        VectorMath.checkLength("mean", mean, rows);
        VectorMath.checkLength("rstd", rstd, rows);
        if (dx != null) VectorMath.checkLength("dx", dx, (long) rows * cols);
        if (dGamma != null) VectorMath.checkLength("dGamma", dGamma, cols);
        if (dBeta != null) VectorMath.checkLength("dBeta", dBeta, cols);

        int chunks = VectorMath.chunkCount(rows, cols);
        // dGamma and dBeta sum over all rows: with several chunks each sums its rows into a private buffer,
        // and the buffers are added in chunk order afterwards, so threads never write the same element.
        float[][] gammaParts = dGamma != null && chunks > 1 ? new float[chunks][] : null;
        float[][] betaParts = dBeta != null && chunks > 1 ? new float[chunks][] : null;
        VectorMath.forChunks(rows, chunks, (chunk, from, to) -> {
            float[] dg = dGamma;
            float[] db = dBeta;
            if (gammaParts != null) dg = gammaParts[chunk] = new float[cols];
            if (betaParts != null) db = betaParts[chunk] = new float[cols];
            for (int r = from; r < to; r++) backwardRow(dy, x, gamma, mean[r], rstd[r], dx, dg, db, r * cols, cols);
        });
        if (gammaParts != null) for (float[] part : gammaParts) VectorMath.axpy(1f, part, 0, dGamma, 0, cols);
        if (betaParts != null) for (float[] part : betaParts) VectorMath.axpy(1f, part, 0, dBeta, 0, cols);
    }

    private static void forwardRow(float[] x, float[] gamma, float[] beta, float[] y, float[] meanOut,
                                   float[] rstdOut, int r, int n, float eps) {
        int off = r * n;
        float mean = VectorMath.sum(x, off, n) / n;
        // Two passes (mean, then squared deviations) rather than E[x²] - E[x]², which cancels badly
        // when the mean is large compared to the spread.
        FloatVector vMean = FloatVector.broadcast(SPECIES, mean);
        FloatVector acc = FloatVector.zero(SPECIES);
        int i = 0;
        int bound = SPECIES.loopBound(n);
        for (; i < bound; i += SPECIES.length()) {
            FloatVector d = FloatVector.fromArray(SPECIES, x, off + i).sub(vMean);
            acc = d.fma(d, acc);
        }
        double sq = VectorMath.sumLanes(acc);
        for (; i < n; i++) {
            double d = x[off + i] - mean;
            sq += d * d;
        }
        float rstd = (float) (1.0 / Math.sqrt(sq / n + eps));
        if (meanOut != null) meanOut[r] = mean;
        if (rstdOut != null) rstdOut[r] = rstd;

        FloatVector vRstd = FloatVector.broadcast(SPECIES, rstd);
        for (i = 0; i < bound; i += SPECIES.length()) {
            FloatVector v = FloatVector.fromArray(SPECIES, x, off + i).sub(vMean).mul(vRstd)
                    .mul(FloatVector.fromArray(SPECIES, gamma, i));
            if (beta != null) v = v.add(FloatVector.fromArray(SPECIES, beta, i));
            v.intoArray(y, off + i);
        }
        for (; i < n; i++) {
            float v = (x[off + i] - mean) * rstd * gamma[i];
            y[off + i] = beta != null ? v + beta[i] : v;
        }
    }

    /**
     * With xhat = (x - mean)·rstd and g = dy·gamma: dx = rstd·(g - mean(g) - xhat·mean(g·xhat)),
     * dGamma = Σ dy·xhat, dBeta = Σ dy.
     */
    private static void backwardRow(float[] dy, float[] x, float[] gamma, float mean, float rstd,
                                    float[] dx, float[] dGamma, float[] dBeta, int off, int n) {
        FloatVector vMean = FloatVector.broadcast(SPECIES, mean);
        FloatVector vRstd = FloatVector.broadcast(SPECIES, rstd);
        int bound = SPECIES.loopBound(n);
        if (dx != null) {
            FloatVector accG = FloatVector.zero(SPECIES);
            FloatVector accGX = FloatVector.zero(SPECIES);
            int i = 0;
            for (; i < bound; i += SPECIES.length()) {
                FloatVector g = FloatVector.fromArray(SPECIES, dy, off + i).mul(FloatVector.fromArray(SPECIES, gamma, i));
                FloatVector xhat = FloatVector.fromArray(SPECIES, x, off + i).sub(vMean).mul(vRstd);
                accG = accG.add(g);
                accGX = g.fma(xhat, accGX);
            }
            float sumG = VectorMath.sumLanes(accG);
            float sumGX = VectorMath.sumLanes(accGX);
            for (; i < n; i++) {
                float g = dy[off + i] * gamma[i];
                sumG += g;
                sumGX += g * (x[off + i] - mean) * rstd;
            }
            float a = sumG / n;
            float b = sumGX / n;
            FloatVector vA = FloatVector.broadcast(SPECIES, a);
            FloatVector vB = FloatVector.broadcast(SPECIES, b);
            for (i = 0; i < bound; i += SPECIES.length()) {
                FloatVector g = FloatVector.fromArray(SPECIES, dy, off + i).mul(FloatVector.fromArray(SPECIES, gamma, i));
                FloatVector xhat = FloatVector.fromArray(SPECIES, x, off + i).sub(vMean).mul(vRstd);
                g.sub(vA).sub(xhat.mul(vB)).fma(vRstd, FloatVector.fromArray(SPECIES, dx, off + i)).intoArray(dx, off + i);
            }
            for (; i < n; i++) {
                float xhat = (x[off + i] - mean) * rstd;
                dx[off + i] += rstd * (dy[off + i] * gamma[i] - a - xhat * b);
            }
        }
        if (dGamma != null || dBeta != null) {
            int i = 0;
            for (; i < bound; i += SPECIES.length()) {
                FloatVector vdy = FloatVector.fromArray(SPECIES, dy, off + i);
                if (dGamma != null) {
                    FloatVector xhat = FloatVector.fromArray(SPECIES, x, off + i).sub(vMean).mul(vRstd);
                    vdy.fma(xhat, FloatVector.fromArray(SPECIES, dGamma, i)).intoArray(dGamma, i);
                }
                if (dBeta != null) vdy.add(FloatVector.fromArray(SPECIES, dBeta, i)).intoArray(dBeta, i);
            }
            for (; i < n; i++) {
                if (dGamma != null) dGamma[i] += dy[off + i] * (x[off + i] - mean) * rstd;
                if (dBeta != null) dBeta[i] += dy[off + i];
            }
        }
    }
}
