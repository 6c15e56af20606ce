package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

class LayerNormKernelTest {
    private static final int[] DIMS = {1, 7, 33, 129, 1000};
    private static final float EPS = 1e-5f;

    @Test
    void forwardMatchesDoubleReferenceWithAndWithoutBeta() {
        Random rnd = new Random(21);
        for (int rows : DIMS) {
            for (int cols : DIMS) {
                float[] x = random(rnd, rows * cols, 2, 0.5);
                float[] gamma = random(rnd, cols, 1, 1);
                float[] beta = random(rnd, cols, 1, 0);
                for (float[] b : new float[][] {beta, null}) {
                    float[] y = new float[rows * cols];
                    float[] mean = new float[rows];
                    float[] rstd = new float[rows];
                    LayerNormKernel.forward(x, gamma, b, y, mean, rstd, rows, cols, EPS);
                    Reference ref = reference(toDouble(x), toDouble(gamma), b == null ? null : toDouble(b), rows, cols);
                    String what = rows + "x" + cols + (b == null ? " no beta" : "");
                    assertClose(ref.y, y, 1e-5, 1e-5, what);
                    assertClose(ref.mean, mean, 1e-5, 1e-6, what + " mean");
                    assertClose(ref.rstd, rstd, 1e-5, 0, what + " rstd");
                }
            }
        }
    }

    @Test
    void forwardIsStableForLargeMeansAndConstantRowsAndInPlace() {
        int rows = 4;
        int cols = 129;
        Random rnd = new Random(22);
        // Mean 100, spread 1: E[x²] - E[x]² in float would lose three digits of the variance.
        float[] x = random(rnd, rows * cols, 1, 100);
        for (int c = 0; c < cols; c++) x[3 * cols + c] = 7f; // constant row: y = beta
        float[] gamma = random(rnd, cols, 1, 1);
        float[] beta = random(rnd, cols, 1, 0);
        Reference ref = reference(toDouble(x), toDouble(gamma), toDouble(beta), rows, cols);
        LayerNormKernel.forward(x, gamma, beta, x, null, null, rows, cols, EPS);
        assertClose(ref.y, x, 1e-4, 1e-4, "in place, large mean");
        for (int c = 0; c < cols; c++) assertEquals(beta[c], x[3 * cols + c], 1e-6, "constant row");
    }

    @Test
    void backwardMatchesAnalyticReferenceAndAccumulates() {
        Random rnd = new Random(23);
        for (int rows : DIMS) {
            for (int cols : DIMS) {
                int n = rows * cols;
                float[] x = random(rnd, n, 1.5, -0.3);
                float[] gamma = random(rnd, cols, 0.5, 1);
                float[] beta = random(rnd, cols, 1, 0);
                float[] mean = new float[rows];
                float[] rstd = new float[rows];
                LayerNormKernel.forward(x, gamma, beta, new float[n], mean, rstd, rows, cols, EPS);
                float[] dy = random(rnd, n, 1, 0);
                float[] dx = random(rnd, n, 1, 0);
                float[] dGamma = random(rnd, cols, 1, 0);
                float[] dBeta = random(rnd, cols, 1, 0);
                double[][] expected = referenceBackward(toDouble(x), toDouble(gamma), toDouble(dy), rows, cols);
                double[] expDx = plus(dx, expected[0]);
                double[] expDGamma = plus(dGamma, expected[1]);
                double[] expDBeta = plus(dBeta, expected[2]);

                LayerNormKernel.backward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols);
                String what = rows + "x" + cols;
                assertClose(expDx, dx, 1e-4, 2e-4, what + " dx");
                double sumScale = Math.sqrt(rows);
                assertClose(expDGamma, dGamma, 1e-4, 1e-5 * sumScale, what + " dGamma");
                assertClose(expDBeta, dBeta, 1e-4, 1e-5 * sumScale, what + " dBeta");
            }
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        int rows = 3;
        int cols = 7;
        Random rnd = new Random(24);
        float[] x = random(rnd, rows * cols, 1, 0.2);
        float[] gamma = random(rnd, cols, 0.5, 1);
        float[] beta = random(rnd, cols, 0.5, 0);
        float[] w = random(rnd, rows * cols, 1, 0);
        float[] mean = new float[rows];
        float[] rstd = new float[rows];
        LayerNormKernel.forward(x, gamma, beta, new float[x.length], mean, rstd, rows, cols, EPS);
        float[] dx = new float[x.length];
        float[] dGamma = new float[cols];
        float[] dBeta = new float[cols];
        LayerNormKernel.backward(w, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols);

        double[] xd = toDouble(x);
        double[] gd = toDouble(gamma);
        double[] bd = toDouble(beta);
        // loss = Σ w · layerNorm(x; gamma, beta), differentiated numerically in each of its three inputs
        DoubleSupplier loss = () -> weighted(reference(xd, gd, bd, rows, cols).y, w);
        assertFiniteDifferences(xd, loss, dx, "dx");
        assertFiniteDifferences(gd, loss, dGamma, "dGamma");
        assertFiniteDifferences(bd, loss, dBeta, "dBeta");
    }

    @Test
    void nullGradientsAreSkippedAndLargeBatchesReduceWithoutRaces() {
        int rows = 1000;
        int cols = 129; // 129k elements: split over threads
        Random rnd = new Random(25);
        float[] x = random(rnd, rows * cols, 1, 0);
        float[] gamma = random(rnd, cols, 0.5, 1);
        float[] mean = new float[rows];
        float[] rstd = new float[rows];
        LayerNormKernel.forward(x, gamma, null, new float[x.length], mean, rstd, rows, cols, EPS);
        float[] dy = random(rnd, rows * cols, 1, 0);
        double[][] expected = referenceBackward(toDouble(x), toDouble(gamma), toDouble(dy), rows, cols);

        float[] dGamma = new float[cols];
        LayerNormKernel.backward(dy, x, gamma, mean, rstd, null, dGamma, null, rows, cols);
        assertClose(expected[1], dGamma, 1e-4, 1e-4, "dGamma only");
        float[] dBeta = new float[cols];
        LayerNormKernel.backward(dy, x, gamma, mean, rstd, null, null, dBeta, rows, cols);
        assertClose(expected[2], dBeta, 1e-4, 1e-4, "dBeta only");
        float[] dx = new float[x.length];
        LayerNormKernel.backward(dy, x, gamma, mean, rstd, dx, null, null, rows, cols);
        assertClose(expected[0], dx, 1e-4, 2e-4, "dx only");

        float[] again = new float[cols];
        LayerNormKernel.backward(dy, x, gamma, mean, rstd, null, again, null, rows, cols);
        assertArrayEquals(dGamma, again, "the reduction is deterministic");
    }

    @Test
    void rejectsBadShapes() {
        float[] x = new float[12];
        assertThrows(IllegalArgumentException.class,
                () -> LayerNormKernel.forward(x, new float[3], null, x, null, null, 3, 4, EPS));
        assertThrows(IllegalArgumentException.class,
                () -> LayerNormKernel.forward(x, new float[4], new float[2], x, null, null, 3, 4, EPS));
        assertThrows(IllegalArgumentException.class,
                () -> LayerNormKernel.forward(x, new float[4], null, x, new float[2], null, 3, 4, EPS));
        assertThrows(IllegalArgumentException.class,
                () -> LayerNormKernel.backward(x, x, new float[4], new float[3], new float[3], new float[11], null, null, 3, 4));
        assertThrows(IllegalArgumentException.class,
                () -> LayerNormKernel.backward(x, x, new float[4], new float[3], new float[2], null, null, null, 3, 4));
    }

    // ---- reference, in double ----

    private record Reference(double[] y, double[] mean, double[] rstd) {}

    private static Reference reference(double[] x, double[] gamma, double[] beta, int rows, int cols) {
        double[] y = new double[rows * cols];
        double[] mean = new double[rows];
        double[] rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int c = 0; c < cols; c++) m += x[r * cols + c];
            m /= cols;
            double v = 0;
            for (int c = 0; c < cols; c++) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
            double rs = 1 / Math.sqrt(v / cols + EPS);
            for (int c = 0; c < cols; c++) {
                y[r * cols + c] = (x[r * cols + c] - m) * rs * gamma[c] + (beta == null ? 0 : beta[c]);
            }
            mean[r] = m;
            rstd[r] = rs;
        }
        return new Reference(y, mean, rstd);
    }

    /** {dx, dGamma, dBeta} of Σ dy·layerNorm(x), from the textbook formulas. */
    private static double[][] referenceBackward(double[] x, double[] gamma, double[] dy, int rows, int cols) {
        Reference ref = reference(x, gamma, null, rows, cols);
        double[] dx = new double[rows * cols];
        double[] dGamma = new double[cols];
        double[] dBeta = new double[cols];
        for (int r = 0; r < rows; r++) {
            double[] xhat = new double[cols];
            double sumG = 0;
            double sumGX = 0;
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                xhat[c] = (x[i] - ref.mean[r]) * ref.rstd[r];
                double g = dy[i] * gamma[c];
                sumG += g;
                sumGX += g * xhat[c];
                dGamma[c] += dy[i] * xhat[c];
                dBeta[c] += dy[i];
            }
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                dx[i] = ref.rstd[r] * (dy[i] * gamma[c] - sumG / cols - xhat[c] * sumGX / cols);
            }
        }
        return new double[][] {dx, dGamma, dBeta};
    }

    // ---- helpers ----

    private static void assertFiniteDifferences(double[] param, DoubleSupplier loss, float[] grad,
                                                String what) {
        double h = 1e-4;
        for (int i = 0; i < param.length; i++) {
            double saved = param[i];
            param[i] = saved + h;
            double plus = loss.getAsDouble();
            param[i] = saved - h;
            double minus = loss.getAsDouble();
            param[i] = saved;
            double fd = (plus - minus) / (2 * h);
            assertEquals(fd, grad[i], 1e-4 * (1 + Math.abs(fd)), what + "[" + i + "]");
        }
    }

    private static double weighted(double[] y, float[] w) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += y[i] * w[i];
        return s;
    }

    private static double[] plus(float[] a, double[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i] + b[i];
        return out;
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    private static float[] random(Random rnd, int n, double scale, double offset) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (offset + scale * rnd.nextGaussian());
        return a;
    }

    private static void assertClose(double[] expected, float[] actual, double rtol, double atol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= atol + rtol * Math.abs(expected[i]))) {
                throw new AssertionError(what + ": element " + i + " expected " + expected[i] + " got " + actual[i]);
            }
        }
    }
}
