package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RopeTest {
    /** Head dims below, at and above the vector length (half = 1, 4, 17, 32, 64). */
    private static final int[] HEAD_DIMS = {2, 8, 34, 64, 128};

    @Test
    void inverseFrequenciesFollowTheFormula() {
        float[] f = Rope.inverseFrequencies(64, 10000);
        assertEquals(32, f.length);
        for (int i = 0; i < 32; i++) assertEquals(Math.pow(10000, -2.0 * i / 64), f[i], 1e-6 * f[i], "i=" + i);
        assertEquals(1f, f[0]);
        assertThrows(IllegalArgumentException.class, () -> Rope.inverseFrequencies(7, 10000));
        assertThrows(IllegalArgumentException.class, () -> Rope.inverseFrequencies(0, 10000));
    }

    @Test
    void applyMatchesScalarReference() {
        Random rnd = new Random(51);
        for (int rows : new int[] {1, 7, 33, 129}) {
            for (int heads : new int[] {1, 3}) {
                for (int headDim : HEAD_DIMS) {
                    float[] invFreq = Rope.inverseFrequencies(headDim, 10000);
                    int[] positions = randomPositions(rnd, rows, 600);
                    float[] x = random(rnd, rows * heads * headDim);
                    for (boolean inverse : new boolean[] {false, true}) {
                        double[] expected = reference(x, rows, heads, headDim, positions, invFreq, inverse);
                        float[] y = x.clone();
                        Rope.apply(y, rows, heads, headDim, positions, invFreq, inverse);
                        assertClose(expected, y, 1e-5, rows + "x" + heads + "x" + headDim + " inverse=" + inverse);
                    }
                }
            }
        }
    }

    @Test
    void tableGivesExactlyTheSameRotationAndLargeBatchesSplit() {
        Random rnd = new Random(52);
        int rows = 1000;
        int heads = 4;
        int headDim = 64;
        float[] invFreq = Rope.inverseFrequencies(headDim, 500000);
        Rope.Table table = new Rope.Table(invFreq, 2048);
        assertEquals(2048, table.maxPositions());
        int[] positions = randomPositions(rnd, rows, 2048);
        float[] x = random(rnd, rows * heads * headDim);
        float[] a = x.clone();
        float[] b = x.clone();
        Rope.apply(a, rows, heads, headDim, positions, invFreq, false);
        Rope.apply(b, rows, heads, headDim, positions, table, false);
        assertArrayEquals(a, b);
        assertClose(reference(x, rows, heads, headDim, positions, invFreq, false), a, 1e-5, "large batch");
    }

    @Test
    void inverseUndoesForward() {
        Random rnd = new Random(53);
        int rows = 33;
        int heads = 2;
        int headDim = 34;
        float[] invFreq = Rope.inverseFrequencies(headDim, 10000);
        int[] positions = randomPositions(rnd, rows, 4096);
        float[] x = random(rnd, rows * heads * headDim);
        float[] y = x.clone();
        Rope.apply(y, rows, heads, headDim, positions, invFreq, false);
        Rope.apply(y, rows, heads, headDim, positions, invFreq, true);
        for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 1e-5, "i=" + i);
    }

    @Test
    void inverseRotationIsTheBackwardByFiniteDifferences() {
        Random rnd = new Random(54);
        int rows = 3;
        int heads = 2;
        int headDim = 8;
        float[] invFreq = Rope.inverseFrequencies(headDim, 10000);
        int[] positions = {0, 5, 17};
        float[] x = random(rnd, rows * heads * headDim);
        float[] w = random(rnd, x.length);
        float[] grad = w.clone();
        Rope.apply(grad, rows, heads, headDim, positions, invFreq, true);

        double h = 1e-4;
        for (int i = 0; i < x.length; i++) {
            float[] xp = x.clone();
            float[] xm = x.clone();
            double[] dp = toDouble(xp);
            double[] dm = toDouble(xm);
            dp[i] += h;
            dm[i] -= h;
            double fd = (dot(referenceDouble(dp, rows, heads, headDim, positions, invFreq, false), w)
                    - dot(referenceDouble(dm, rows, heads, headDim, positions, invFreq, false), w)) / (2 * h);
            assertEquals(fd, grad[i], 1e-5, "element " + i);
        }
    }

    @Test
    void angleIsRoundedToFloatLikeTransformers() {
        // transformers multiplies float32 inv_freq by the position in float32 and takes cos of that float.
        float[] invFreq = {0.3f};
        int position = 100_003;
        float angle = position * invFreq[0];
        float[] x = {1f, 0f};
        Rope.apply(x, 1, 1, 2, new int[] {position}, invFreq, false);
        assertEquals((float) Math.cos(angle), x[0]);
        assertEquals((float) Math.sin(angle), x[1]);
    }

    @Test
    void rejectsBadArguments() {
        float[] invFreq = Rope.inverseFrequencies(8, 10000);
        float[] x = new float[2 * 8];
        assertThrows(IllegalArgumentException.class, () -> Rope.apply(x, 2, 1, 8, new int[1], invFreq, false));
        assertThrows(IllegalArgumentException.class, () -> Rope.apply(x, 3, 1, 8, new int[3], invFreq, false));
        assertThrows(IllegalArgumentException.class, () -> Rope.apply(x, 1, 1, 16, new int[1], invFreq, false));
        assertThrows(IllegalArgumentException.class, () -> Rope.apply(x, 2, 2, 7, new int[2], invFreq, false));
        Rope.Table table = new Rope.Table(invFreq, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Rope.apply(x, 2, 1, 8, new int[] {3, 10}, table, false));
        assertEquals(true, e.getMessage().contains("10"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Rope.apply(new float[32], 2, 1, 16, new int[2], table, false));
    }

    // ---- reference ----

    private static double[] reference(float[] x, int rows, int heads, int headDim, int[] positions, float[] invFreq,
                                      boolean inverse) {
        return referenceDouble(toDouble(x), rows, heads, headDim, positions, invFreq, inverse);
    }

    private static double[] referenceDouble(double[] x, int rows, int heads, int headDim, int[] positions,
                                            float[] invFreq, boolean inverse) {
        double[] y = x.clone();
        int half = headDim / 2;
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int base = (r * heads + h) * headDim;
                for (int i = 0; i < half; i++) {
                    float angle32 = positions[r] * invFreq[i]; // float32, as transformers computes it
                    double angle = (inverse ? -1 : 1) * (double) angle32;
                    double x1 = x[base + i];
                    double x2 = x[base + i + half];
                    y[base + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
                    y[base + i + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
                }
            }
        }
        return y;
    }

    private static int[] randomPositions(Random rnd, int n, int bound) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = rnd.nextInt(bound);
        return p;
    }

    private static double dot(double[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    private static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    private static void assertClose(double[] expected, float[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) {
                throw new AssertionError(what + ": element " + i + " expected " + expected[i] + " got " + actual[i]);
            }
        }
    }
}
