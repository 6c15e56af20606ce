package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

class RmsNormKernelTest {
    private static final int[] DIMS = {1, 7, 33, 129, 1000};
    private static final float EPS = 1e-6f;

    @Test
    void forwardMatchesDoubleReference() {
        Random rnd = new Random(31);
        for (int rows : DIMS) {
            for (int cols : DIMS) {
                float[] x = random(rnd, rows * cols, 2, 0.3);
                float[] gamma = random(rnd, cols, 0.5, 1);
                float[] y = new float[rows * cols];
                float[] rstd = new float[rows];
                RmsNormKernel.forward(x, gamma, y, rstd, rows, cols, EPS);
                double[] refRstd = new double[rows];
                double[] ref = reference(toDouble(x), toDouble(gamma), rows, cols, refRstd);
                assertClose(ref, y, 1e-5, 1e-5, rows + "x" + cols);
                assertClose(refRstd, rstd, 1e-5, 0, rows + "x" + cols + " rstd");
            }
        }
    }

    @Test
    void forwardInPlaceAndOnZeroRows() {
        int rows = 3;
        int cols = 33;
        Random rnd = new Random(32);
        float[] x = random(rnd, rows * cols, 1, 0);
        for (int c = 0; c < cols; c++) x[cols + c] = 0f; // all-zero row: eps keeps it finite, output 0
        float[] gamma = random(rnd, cols, 0.5, 1);
        double[] ref = reference(toDouble(x), toDouble(gamma), rows, cols, new double[rows]);
        RmsNormKernel.forward(x, gamma, x, null, rows, cols, EPS);
        assertClose(ref, x, 1e-5, 1e-6, "in place");
        for (int c = 0; c < cols; c++) assertEquals(0f, x[cols + c], 0f, "zero row");
    }

    @Test
    void backwardMatchesAnalyticReferenceAndAccumulates() {
        Random rnd = new Random(33);
        for (int rows : DIMS) {
            for (int cols : DIMS) {
                int n = rows * cols;
                float[] x = random(rnd, n, 1.5, 0.2);
                float[] gamma = random(rnd, cols, 0.5, 1);
                float[] rstd = new float[rows];
                RmsNormKernel.forward(x, gamma, new float[n], rstd, rows, cols, EPS);
                float[] dy = random(rnd, n, 1, 0);
                float[] dx = random(rnd, n, 1, 0);
                float[] dGamma = random(rnd, cols, 1, 0);
                double[][] expected = referenceBackward(toDouble(x), toDouble(gamma), toDouble(dy), rows, cols);
                double[] expDx = plus(dx, expected[0]);
                double[] expDGamma = plus(dGamma, expected[1]);

                RmsNormKernel.backward(dy, x, gamma, rstd, dx, dGamma, rows, cols);
                String what = rows + "x" + cols;
                assertClose(expDx, dx, 1e-4, 2e-4, what + " dx");
                assertClose(expDGamma, dGamma, 1e-4, 1e-5 * Math.sqrt(rows), what + " dGamma");
            }
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        int rows = 3;
        int cols = 7;
        Random rnd = new Random(34);
        float[] x = random(rnd, rows * cols, 1, 0.2);
        float[] gamma = random(rnd, cols, 0.5, 1);
        float[] w = random(rnd, rows * cols, 1, 0);
        float[] rstd = new float[rows];
        RmsNormKernel.forward(x, gamma, new float[x.length], rstd, rows, cols, EPS);
        float[] dx = new float[x.length];
        float[] dGamma = new float[cols];
        RmsNormKernel.backward(w, x, gamma, rstd, dx, dGamma, rows, cols);

        double[] xd = toDouble(x);
        double[] gd = toDouble(gamma);
        DoubleSupplier loss = () -> weighted(reference(xd, gd, rows, cols, new double[rows]), w);
        assertFiniteDifferences(xd, loss, dx, "dx");
        assertFiniteDifferences(gd, loss, dGamma, "dGamma");
    }

    @Test
    void nullGradientsAreSkippedAndLargeBatchesReduceWithoutRaces() {
        int rows = 1000;
        int cols = 129;
        Random rnd = new Random(35);
        float[] x = random(rnd, rows * cols, 1, 0);
        float[] gamma = random(rnd, cols, 0.5, 1);
        float[] rstd = new float[rows];
        RmsNormKernel.forward(x, gamma, new float[x.length], rstd, rows, cols, EPS);
        float[] dy = random(rnd, rows * cols, 1, 0);
        double[][] expected = referenceBackward(toDouble(x), toDouble(gamma), toDouble(dy), rows, cols);

        float[] dGamma = new float[cols];
        RmsNormKernel.backward(dy, x, gamma, rstd, null, dGamma, rows, cols);
        assertClose(expected[1], dGamma, 1e-4, 1e-4, "dGamma only");
        float[] dx = new float[x.length];
        RmsNormKernel.backward(dy, x, gamma, rstd, dx, null, rows, cols);
        assertClose(expected[0], dx, 1e-4, 2e-4, "dx only");
        float[] again = new float[cols];
        RmsNormKernel.backward(dy, x, gamma, rstd, null, again, rows, cols);
        assertArrayEquals(dGamma, again, "the reduction is deterministic");
    }

    @Test
    void rejectsBadShapes() {
        float[] x = new float[12];
        assertThrows(IllegalArgumentException.class, () -> RmsNormKernel.forward(x, new float[3], x, null, 3, 4, EPS));
        assertThrows(IllegalArgumentException.class,
                () -> RmsNormKernel.forward(x, new float[4], new float[11], null, 3, 4, EPS));
        assertThrows(IllegalArgumentException.class,
                () -> RmsNormKernel.forward(x, new float[4], x, new float[2], 3, 4, EPS));
        assertThrows(IllegalArgumentException.class,
                () -> RmsNormKernel.backward(x, x, new float[4], new float[3], null, new float[3], 3, 4));
    }

    // ---- reference, in double ----

    private static double[] reference(double[] x, double[] gamma, int rows, int cols, double[] rstdOut) {
        double[] y = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int c = 0; c < cols; c++) ms += x[r * cols + c] * x[r * cols + c];
            double rs = 1 / Math.sqrt(ms / cols + EPS);
            rstdOut[r] = rs;
            for (int c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] * rs * gamma[c];
        }
        return y;
    }

    /** {dx, dGamma} of Σ dy·rmsNorm(x). */
    private static double[][] referenceBackward(double[] x, double[] gamma, double[] dy, int rows, int cols) {
        double[] rstd = new double[rows];
        reference(x, gamma, rows, cols, rstd);
        double[] dx = new double[rows * cols];
        double[] dGamma = new double[cols];
        for (int r = 0; r < rows; r++) {
            double sumGX = 0;
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                sumGX += dy[i] * gamma[c] * x[i] * rstd[r];
                dGamma[c] += dy[i] * x[i] * rstd[r];
            }
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                dx[i] = rstd[r] * (dy[i] * gamma[c] - x[i] * rstd[r] * sumGX / cols);
            }
        }
        return new double[][] {dx, dGamma};
    }

    // ---- helpers ----

    private static void assertFiniteDifferences(double[] param, DoubleSupplier loss, float[] grad, String what) {
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
