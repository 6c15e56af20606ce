package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CrossEntropyTest {
    private static final int IGNORE = -100;

    @Test
    void lossAndGradientMatchDoubleReferenceAndAccumulate() {
        Random rnd = new Random(61);
        int[][] shapes = {{1, 1}, {1, 7}, {7, 33}, {33, 129}, {7, 1000}, {129, 1000}, {3, 50257}};
        for (int[] shape : shapes) {
            int rows = shape[0];
            int vocab = shape[1];
            float[] logits = random(rnd, rows * vocab, 3);
            int[] targets = new int[rows];
            for (int r = 0; r < rows; r++) targets[r] = rnd.nextInt(vocab);
            float[] dLogits = random(rnd, rows * vocab, 1);
            float scale = 1f / rows;
            double[] expectedGrad = new double[rows * vocab];
            double expectedLoss = reference(logits, rows, vocab, targets, expectedGrad, scale);
            for (int i = 0; i < expectedGrad.length; i++) expectedGrad[i] += dLogits[i];

            CrossEntropy.Result result = CrossEntropy.forwardBackward(logits, rows, vocab, targets, IGNORE, dLogits, scale);
            String what = rows + "x" + vocab;
            assertEquals(rows, result.count(), what);
            assertEquals(expectedLoss, result.lossSum(), 1e-5 * (1 + Math.abs(expectedLoss)), what + " loss");
            assertEquals(expectedLoss / rows, result.mean(), 1e-5 * (1 + Math.abs(expectedLoss)), what + " mean");
            assertClose(expectedGrad, dLogits, 1e-5, 1e-7, what + " gradient");
        }
    }

    @Test
    void ignoredRowsAddNothingAndKeepTheirGradientRows() {
        Random rnd = new Random(62);
        int rows = 33;
        int vocab = 129;
        float[] logits = random(rnd, rows * vocab, 2);
        int[] targets = new int[rows];
        for (int r = 0; r < rows; r++) targets[r] = r % 3 == 0 ? IGNORE : rnd.nextInt(vocab);
        float[] dLogits = random(rnd, rows * vocab, 1);
        float[] before = dLogits.clone();

        double[] expectedGrad = new double[rows * vocab];
        double expectedLoss = reference(logits, rows, vocab, targets, expectedGrad, 0.5f);
        CrossEntropy.Result result = CrossEntropy.forwardBackward(logits, rows, vocab, targets, IGNORE, dLogits, 0.5f);
        assertEquals(22, result.count());
        assertEquals(expectedLoss, result.lossSum(), 1e-5 * expectedLoss);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < vocab; c++) {
                int i = r * vocab + c;
                if (targets[r] == IGNORE) assertEquals(before[i], dLogits[i], "ignored row " + r + " untouched");
                else assertEquals(before[i] + expectedGrad[i], dLogits[i], 1e-6, "row " + r + " col " + c);
            }
        }

        int[] allIgnored = new int[rows];
        Arrays.fill(allIgnored, IGNORE);
        CrossEntropy.Result none = CrossEntropy.forwardBackward(logits, rows, vocab, allIgnored, IGNORE, null, 1f);
        assertEquals(0, none.count());
        assertEquals(0.0, none.lossSum());
        assertTrue(Double.isNaN(none.mean()));
    }

    @Test
    void inPlaceGradientOverwritesLogitsAndZeroesIgnoredRows() {
        Random rnd = new Random(63);
        int rows = 7;
        int vocab = 50257;
        float[] logits = random(rnd, rows * vocab, 4);
        int[] targets = {5, IGNORE, 50256, 0, 777, IGNORE, 12345};
        double[] expectedGrad = new double[rows * vocab];
        double expectedLoss = reference(logits, rows, vocab, targets, expectedGrad, 0.2f);

        CrossEntropy.Result result = CrossEntropy.forwardBackward(logits, rows, vocab, targets, IGNORE, logits, 0.2f);
        assertEquals(5, result.count());
        assertEquals(expectedLoss, result.lossSum(), 1e-5 * expectedLoss);
        assertClose(expectedGrad, logits, 1e-5, 1e-9, "in-place gradient");
        for (int c = 0; c < vocab; c++) assertEquals(0f, logits[vocab + c], "ignored row zeroed");
    }

    @Test
    void gradientMatchesFiniteDifferencesOfTheLoss() {
        Random rnd = new Random(64);
        int rows = 3;
        int vocab = 7;
        float[] logits = random(rnd, rows * vocab, 2);
        int[] targets = {2, IGNORE, 6};
        float[] grad = new float[logits.length];
        CrossEntropy.forwardBackward(logits, rows, vocab, targets, IGNORE, grad, 1f);

        double[] x = new double[logits.length];
        for (int i = 0; i < x.length; i++) x[i] = logits[i];
        double h = 1e-4;
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            x[i] = saved + h;
            double plus = referenceLoss(x, rows, vocab, targets);
            x[i] = saved - h;
            double minus = referenceLoss(x, rows, vocab, targets);
            x[i] = saved;
            assertEquals((plus - minus) / (2 * h), grad[i], 1e-5, "element " + i);
        }
    }

    @Test
    void hugeLogitsStayFiniteAndLossOnlyWithoutGradient() {
        float[] logits = {1e4f, -1e4f, 0f, 30000f, 30001f, -5f};
        CrossEntropy.Result r = CrossEntropy.forwardBackward(logits, 2, 3, new int[] {1, 0}, IGNORE, null, 1f);
        assertEquals(2e4 + 1 + Math.log(1 + Math.exp(-1)), r.lossSum(), 1e-3);
        assertArrayEquals(new float[] {1e4f, -1e4f, 0f, 30000f, 30001f, -5f}, logits, "logits untouched");
    }

    @Test
    void rejectsOutOfRangeTargetsBeforeWritingAnything() {
        float[] logits = new float[3 * 5];
        float[] dLogits = new float[3 * 5];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 3, 5, new int[] {1, 5, 2}, IGNORE, dLogits, 1f));
        assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("5"), e.getMessage());
        assertArrayEquals(new float[15], dLogits);
        e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 3, 5, new int[] {1, 2, -1}, IGNORE, dLogits, 1f));
        assertTrue(e.getMessage().contains("row 2") && e.getMessage().contains("-1"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 3, 5, new int[] {1, 2}, IGNORE, dLogits, 1f));
        assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 3, 5, new int[] {1, 2, 3}, IGNORE, new float[14], 1f));
    }

    // ---- reference, in double ----

    /** Summed loss; grad[row] = scale·(softmax - onehot) for counted rows. */
    private static double reference(float[] logits, int rows, int vocab, int[] targets, double[] grad, float scale) {
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            if (targets[r] == IGNORE) continue;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < vocab; c++) max = Math.max(max, logits[r * vocab + c]);
            double sum = 0;
            for (int c = 0; c < vocab; c++) sum += Math.exp(logits[r * vocab + c] - max);
            double lse = max + Math.log(sum);
            loss += lse - logits[r * vocab + targets[r]];
            for (int c = 0; c < vocab; c++) {
                grad[r * vocab + c] = scale * (Math.exp(logits[r * vocab + c] - lse) - (c == targets[r] ? 1 : 0));
            }
        }
        return loss;
    }

    private static double referenceLoss(double[] logits, int rows, int vocab, int[] targets) {
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            if (targets[r] == IGNORE) continue;
            double sum = 0;
            for (int c = 0; c < vocab; c++) sum += Math.exp(logits[r * vocab + c]);
            loss += Math.log(sum) - logits[r * vocab + targets[r]];
        }
        return loss;
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
