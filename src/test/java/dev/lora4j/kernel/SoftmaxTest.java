package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SoftmaxTest {
    private static final int[] DIMS = {1, 7, 33, 129, 1000};

    @Test
    void forwardMatchesDoubleReferenceOnAwkwardShapes() {
        Random rnd = new Random(11);
        for (int rows : DIMS) {
            for (int cols : DIMS) {
                float[] x = random(rnd, rows * cols, 3);
                float[] y = new float[rows * cols];
                Softmax.forward(x, y, rows, cols);
                assertClose(reference(x, rows, cols), y, 1e-5, 1e-8, rows + "x" + cols);
            }
        }
    }

    @Test
    void forwardInPlaceAndWithHugeLogitsStaysFinite() {
        int rows = 3;
        int cols = 33;
        Random rnd = new Random(12);
        float[] x = random(rnd, rows * cols, 1);
        x[0] = 1000f;
        x[cols + 5] = -1000f;
        x[2 * cols + 32] = 80f;
        double[] expected = reference(x, rows, cols);
        Softmax.forward(x, x, rows, cols);
        assertClose(expected, x, 1e-5, 1e-8, "in place");
        for (float v : x) assertTrue(Float.isFinite(v));
        assertEquals(1f, x[0], 1e-6f);
    }

    @Test
    void backwardMatchesAnalyticReferenceAndAddsIntoDx() {
        Random rnd = new Random(13);
        for (int rows : DIMS) {
            for (int cols : new int[] {1, 7, 129, 1000}) {
                int n = rows * cols;
                float[] x = random(rnd, n, 2);
                float[] y = new float[n];
                Softmax.forward(x, y, rows, cols);
                float[] dy = random(rnd, n, 1);
                float[] dx = random(rnd, n, 1);
                double[] expected = new double[n];
                for (int r = 0; r < rows; r++) {
                    double dot = 0;
                    for (int c = 0; c < cols; c++) dot += (double) dy[r * cols + c] * y[r * cols + c];
                    for (int c = 0; c < cols; c++) {
                        int i = r * cols + c;
                        expected[i] = dx[i] + y[i] * (dy[i] - dot);
                    }
                }
                Softmax.backward(y, dy, dx, rows, cols);
                assertClose(expected, dx, 1e-5, 1e-6, rows + "x" + cols);
            }
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        int rows = 3;
        int cols = 7;
        Random rnd = new Random(14);
        float[] x = random(rnd, rows * cols, 1.5);
        float[] w = random(rnd, rows * cols, 1);
        float[] y = new float[x.length];
        Softmax.forward(x, y, rows, cols);
        float[] dx = new float[x.length];
        Softmax.backward(y, w, dx, rows, cols);

        double[] xd = toDouble(x);
        double h = 1e-4;
        for (int i = 0; i < x.length; i++) {
            double saved = xd[i];
            xd[i] = saved + h;
            double plus = weighted(referenceDouble(xd, rows, cols), w);
            xd[i] = saved - h;
            double minus = weighted(referenceDouble(xd, rows, cols), w);
            xd[i] = saved;
            assertEquals((plus - minus) / (2 * h), dx[i], 1e-5, "element " + i);
        }
    }

    @Test
    void rejectsArraysShorterThanTheShape() {
        assertThrows(IllegalArgumentException.class, () -> Softmax.forward(new float[6], new float[6], 2, 4));
        assertThrows(IllegalArgumentException.class,
                () -> Softmax.backward(new float[8], new float[8], new float[7], 2, 4));
        assertThrows(IllegalArgumentException.class, () -> Softmax.forward(new float[6], new float[6], -1, 4));
    }

    private static double[] reference(float[] x, int rows, int cols) {
        return referenceDouble(toDouble(x), rows, cols);
    }

    private static double[] referenceDouble(double[] x, int rows, int cols) {
        double[] y = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += Math.exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++) y[r * cols + c] = Math.exp(x[r * cols + c] - max) / sum;
        }
        return y;
    }

    private static double weighted(double[] y, float[] w) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += y[i] * w[i];
        return s;
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    private static float[] random(Random rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (scale * rnd.nextGaussian());
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
