package dev.lora4j.kernel;

/**
 * Batch normalisation over the channels of an NCHW batch (torch.nn.BatchNorm2d; BatchNorm1d over [n, c, l]
 * is the same with h·w = l). Training mode normalises with the batch's mean and biased variance per
 * channel and updates the running statistics with the unbiased variance; evaluation mode normalises with
 * the running statistics, which makes it an affine map per channel.
 */
public final class BatchNormKernel {
    private BatchNormKernel() {}

    /**
     * Training-mode forward: y = gamma·(x − mean)·rstd + beta with batch statistics; mean and rstd [c] are
     * returned for the backward; running statistics move by {@code momentum} (torch: running = (1 − m)·running + m·batch).
     */
    public static void forwardTraining(float[] x, int n, int c, int plane, float[] gamma, float[] beta, float[] y,
                                       float[] mean, float[] rstd, float[] runningMean, float[] runningVar,
                                       float momentum, float eps) {
        long count = (long) n * plane;
        if (count < 2) throw new IllegalArgumentException("batch norm in training mode needs more than one value per channel, got " + count);
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int img = 0; img < n; img++) s += VectorMath.sum(x, (img * c + ch) * plane, plane);
            double mu = s / count, ss = 0;
            for (int img = 0; img < n; img++) {
                int off = (img * c + ch) * plane;
                for (int p = 0; p < plane; p++) {
                    double d = x[off + p] - mu;
                    ss += d * d;
                }
            }
            double var = ss / count;
            mean[ch] = (float) mu;
            rstd[ch] = (float) (1 / Math.sqrt(var + eps));
            if (runningMean != null) {
                runningMean[ch] = (float) ((1 - momentum) * runningMean[ch] + momentum * mu);
                runningVar[ch] = (float) ((1 - momentum) * runningVar[ch] + momentum * ss / (count - 1));
            }
            affine(x, n, c, plane, ch, mean[ch], rstd[ch], gamma, beta, y);
        }
    }

    /** Evaluation-mode forward with frozen statistics; rstd [c] is returned for the backward. */
    public static void forwardInference(float[] x, int n, int c, int plane, float[] gamma, float[] beta, float[] y,
                                        float[] runningMean, float[] runningVar, float[] rstd, float eps) {
        for (int ch = 0; ch < c; ch++) {
            rstd[ch] = (float) (1 / Math.sqrt(runningVar[ch] + eps));
            affine(x, n, c, plane, ch, runningMean[ch], rstd[ch], gamma, beta, y);
        }
    }

    private static void affine(float[] x, int n, int c, int plane, int ch, float mu, float r, float[] gamma, float[] beta, float[] y) {
        float g = gamma == null ? 1f : gamma[ch], b = beta == null ? 0f : beta[ch];
        for (int img = 0; img < n; img++) {
            int off = (img * c + ch) * plane;
            for (int p = 0; p < plane; p++) y[off + p] = (x[off + p] - mu) * r * g + b;
        }
    }

    /**
     * Backward of either mode: dgamma += Σ dy·x̂, dbeta += Σ dy; dx += gamma·rstd·dy in evaluation mode, and in
     * training mode, where mean and variance depend on x, dx += gamma·rstd/M·(M·dy − Σdy − x̂·Σ(dy·x̂)).
     * Any of dx, dgamma, dbeta may be null.
     */
    public static void backward(float[] dy, float[] x, int n, int c, int plane, float[] gamma, float[] mean, float[] rstd,
                                boolean training, float[] dx, float[] dgamma, float[] dbeta) {
        double m = (double) n * plane;
        for (int ch = 0; ch < c; ch++) {
            float mu = mean[ch], r = rstd[ch], g = gamma == null ? 1f : gamma[ch];
            double sumDy = 0, sumDyXhat = 0;
            for (int img = 0; img < n; img++) {
                int off = (img * c + ch) * plane;
                for (int p = 0; p < plane; p++) {
                    sumDy += dy[off + p];
                    sumDyXhat += dy[off + p] * (x[off + p] - mu) * r;
                }
            }
            if (dgamma != null) dgamma[ch] += (float) sumDyXhat;
            if (dbeta != null) dbeta[ch] += (float) sumDy;
            if (dx == null) continue;
            for (int img = 0; img < n; img++) {
                int off = (img * c + ch) * plane;
                for (int p = 0; p < plane; p++) {
                    if (training) {
                        double xhat = (x[off + p] - mu) * r;
                        dx[off + p] += (float) (g * r / m * (m * dy[off + p] - sumDy - xhat * sumDyXhat));
                    } else {
                        dx[off + p] += g * r * dy[off + p];
                    }
                }
            }
        }
    }
}
