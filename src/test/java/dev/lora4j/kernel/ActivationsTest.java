package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

class ActivationsTest {
    private static final int[] SIZES = {1, 7, 33, 129, 1000, 100_003};

    /** x on [-10, 10] in steps of 1e-3, ends included, then a few values on either side of 0. */
    private static final float[] GRID = grid();

    // ---- the reference erf itself ----

    @Test
    void referenceErfMatchesPublishedValuesAndItsTwoBranchesAgree() {
        assertEquals(0.5204998778130465, erfRef(0.5), 1e-15);
        assertEquals(0.8427007929497149, erfRef(1), 1e-15);
        assertEquals(0.9953222650189527, erfRef(2), 1e-15);
        assertEquals(-0.8427007929497149, erfRef(-1), 1e-15);
        assertEquals(2.209049699858544e-05, erfcRef(3), 1e-13 * 2.2e-5);
        assertEquals(1.5374597944280349e-12, erfcRef(5), 1e-12 * 1.5e-12);
        assertEquals(2.088487583762545e-45, erfcRef(10), 1e-12 * 2.1e-45);
        // Either side of the switch at 3 both are good to a few 1e-16 absolute.
        assertEquals(erfcSeries(2.99), erfcContinuedFraction(2.99), 3e-15);
        assertEquals(erfcSeries(3.5), erfcContinuedFraction(3.5), 3e-15);
    }

    // ---- erf ----

    @Test
    void erfAbsoluteErrorBelowOneMillionthOnMinusTenToTen() {
        float[] y = new float[GRID.length];
        Activations.erf(GRID, y, GRID.length);
        double maxVector = 0;
        double maxScalar = 0;
        for (int i = 0; i < GRID.length; i++) {
            double expected = erfRef(GRID[i]);
            maxVector = Math.max(maxVector, Math.abs(y[i] - expected));
            maxScalar = Math.max(maxScalar, Math.abs(Activations.erf(GRID[i]) - expected));
        }
        assertTrue(maxVector < 1e-6, "vector erf max abs error " + maxVector);
        assertTrue(maxScalar < 1e-6, "scalar erf max abs error " + maxScalar);
    }

    @Test
    void erfcKeepsRelativeAccuracyInTheTails() {
        for (double x = -10; x <= 9; x += 0.01) {
            float xf = (float) x;
            double expected = erfcRef(xf);
            double rel = Math.abs(Activations.erfc(xf) - expected) / expected;
            assertTrue(rel < 1e-6, "erfc(" + xf + ") relative error " + rel);
        }
    }

    // ---- exact GELU ----

    @Test
    void geluMatchesErfReferenceOnTheGrid() {
        float[] y = new float[GRID.length];
        Activations.gelu(GRID, y, GRID.length);
        for (int i = 0; i < GRID.length; i++) {
            double x = GRID[i];
            double expected = gelu(x);
            assertEquals(expected, y[i], 1e-6 * Math.max(1, Math.abs(x)), "gelu(" + x + ")");
            // Computed as 0.5·x·erfc(-x/√2), not 0.5·x·(1 + erf): the negative tail keeps relative accuracy.
            if (x >= -6 && x <= -1) {
                assertEquals(expected, y[i], 1e-5 * Math.abs(expected), "relative, gelu(" + x + ")");
            }
        }
    }

    @Test
    void geluBackwardMatchesFiniteDifferencesAndAccumulates() {
        checkBackward(ActivationsTest::gelu, Activations::geluBackward, "gelu");
    }

    // ---- tanh GELU ----

    @Test
    void geluTanhMatchesTransformersFormula() {
        float[] y = new float[GRID.length];
        Activations.geluTanh(GRID, y, GRID.length);
        for (int i = 0; i < GRID.length; i++) {
            double x = GRID[i];
            assertEquals(geluTanh(x), y[i], 1e-6 * Math.max(1, Math.abs(x)), "geluTanh(" + x + ")");
        }
    }

    @Test
    void geluTanhBackwardMatchesFiniteDifferencesAndAccumulates() {
        checkBackward(ActivationsTest::geluTanh, Activations::geluTanhBackward, "geluTanh");
    }

    // ---- SiLU ----

    @Test
    void siluMatchesReference() {
        float[] y = new float[GRID.length];
        Activations.silu(GRID, y, GRID.length);
        for (int i = 0; i < GRID.length; i++) {
            double x = GRID[i];
            assertEquals(silu(x), y[i], 1e-6 * Math.max(1, Math.abs(x)), "silu(" + x + ")");
        }
    }

    @Test
    void siluBackwardMatchesFiniteDifferencesAndAccumulates() {
        checkBackward(ActivationsTest::silu, Activations::siluBackward, "silu");
    }

    // ---- all of them ----

    @Test
    void forwardsWorkInPlaceOnAwkwardLengths() {
        Random rnd = new Random(41);
        for (int n : SIZES) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) (3 * rnd.nextGaussian());
            Forward[] forwards = {Activations::gelu, Activations::geluTanh, Activations::silu};
            DoubleUnaryOperator[] refs = {ActivationsTest::gelu, ActivationsTest::geluTanh, ActivationsTest::silu};
            for (int f = 0; f < forwards.length; f++) {
                float[] y = x.clone();
                forwards[f].apply(y, y, n);
                for (int i = 0; i < n; i++) {
                    assertEquals(refs[f].applyAsDouble(x[i]), y[i], 1e-6 * Math.max(1, Math.abs(x[i])),
                            "function " + f + " n=" + n + " i=" + i);
                }
            }
        }
    }

    @Test
    void saturateWithoutNaNForHugeInputs() {
        float[] x = {-1e4f, -100f, -88.8f, 88.8f, 100f, 1e4f, 0f, -0f};
        int n = x.length;
        for (Forward f : new Forward[] {Activations::gelu, Activations::geluTanh, Activations::silu}) {
            float[] y = new float[n];
            f.apply(x, y, n);
            for (int i = 0; i < n; i++) {
                double expected = x[i] > 0 ? x[i] : 0;
                assertEquals(expected, y[i], 1e-6 * Math.max(1, Math.abs(x[i])), "x=" + x[i]);
            }
        }
        for (Backward b : new Backward[] {Activations::geluBackward, Activations::geluTanhBackward, Activations::siluBackward}) {
            float[] dy = new float[n];
            Arrays.fill(dy, 1f);
            float[] dx = new float[n];
            b.apply(x, dy, dx, n);
            for (int i = 0; i < 6; i++) assertEquals(x[i] > 0 ? 1 : 0, dx[i], 1e-6, "grad at x=" + x[i]);
        }
    }

    @Test
    void rejectsBadLengths() {
        assertThrows(IllegalArgumentException.class, () -> Activations.gelu(new float[3], new float[4], 4));
        assertThrows(IllegalArgumentException.class, () -> Activations.silu(new float[4], new float[4], -1));
        assertThrows(IllegalArgumentException.class,
                () -> Activations.geluTanhBackward(new float[4], new float[4], new float[3], 4));
        assertThrows(IllegalArgumentException.class, () -> Activations.erf(new float[4], new float[2], 4));
    }

    // ---- helpers ----

    @FunctionalInterface
    private interface Forward {
        void apply(float[] x, float[] y, int n);
    }

    @FunctionalInterface
    private interface Backward {
        void apply(float[] x, float[] dy, float[] dx, int n);
    }

    /** dx (pre-filled) += dy · f'(x), f' by central differences of the double reference. */
    private static void checkBackward(DoubleUnaryOperator f, Backward backward, String name) {
        Random rnd = new Random(name.hashCode());
        int n = GRID.length;
        float[] dy = new float[n];
        float[] dx = new float[n];
        for (int i = 0; i < n; i++) {
            dy[i] = (float) rnd.nextGaussian();
            dx[i] = (float) rnd.nextGaussian();
        }
        float[] before = dx.clone();
        backward.apply(GRID, dy, dx, n);
        double h = 1e-5;
        for (int i = 0; i < n; i++) {
            double x = GRID[i];
            double derivative = (f.applyAsDouble(x + h) - f.applyAsDouble(x - h)) / (2 * h);
            double expected = before[i] + dy[i] * derivative;
            assertEquals(expected, dx[i], 2e-6 * (1 + Math.abs(expected)), name + "'(" + x + ")");
        }
    }

    private static double gelu(double x) {
        return 0.5 * x * erfcRef(-x / Math.sqrt(2));
    }

    private static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    private static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    private static float[] grid() {
        int n = 20_001;
        float[] g = new float[n + 4];
        for (int i = 0; i < n; i++) g[i] = (float) (-10 + i * 1e-3);
        g[n] = 1e-7f;
        g[n + 1] = -1e-7f;
        g[n + 2] = 1e-30f;
        g[n + 3] = 0f;
        return g;
    }

    // ---- erf in double: power series below 3, continued fraction for the tail ----

    private static double erfRef(double x) {
        if (x < 0) return -erfRef(-x);
        return x < 3 ? erfSeries(x) : 1 - erfcContinuedFraction(x);
    }

    private static double erfcRef(double x) {
        if (x < 0) return 2 - erfcRef(-x);
        return x < 3 ? erfcSeries(x) : erfcContinuedFraction(x);
    }

    private static double erfcSeries(double x) {
        return 1 - erfSeries(x);
    }

    /** erf x = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): all terms positive, so no cancellation. */
    private static double erfSeries(double x) {
        double term = x;
        double sum = x;
        for (int n = 1; term > 1e-17 * sum; n++) {
            term *= 2 * x * x / (2 * n + 1);
            sum += term;
        }
        return 2 / Math.sqrt(Math.PI) * Math.exp(-x * x) * sum;
    }

    /** erfc x = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated from a deep tail up. */
    private static double erfcContinuedFraction(double x) {
        double f = x;
        for (int k = 300; k >= 1; k--) f = x + (k / 2.0) / f;
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }
}
