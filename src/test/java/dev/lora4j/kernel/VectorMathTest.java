package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class VectorMathTest {
    private static final int[] SIZES = {0, 1, 7, 16, 33, 129, 1000, 4099};

    @Test
    void dotMatchesDoubleReferenceWithOffsets() {
        Random rnd = new Random(1);
        for (int n : SIZES) {
            float[] a = random(rnd, n + 5);
            float[] b = random(rnd, n + 3);
            double expected = 0;
            double magnitude = 0;
            for (int i = 0; i < n; i++) {
                expected += (double) a[5 + i] * b[3 + i];
                magnitude += Math.abs((double) a[5 + i] * b[3 + i]);
            }
            assertEquals(expected, VectorMath.dot(a, 5, b, 3, n), 1e-6 * magnitude + 1e-12, "n=" + n);
        }
    }

    @Test
    void axpyAddsScaledSliceAndLeavesTheRestAlone() {
        Random rnd = new Random(2);
        for (int n : SIZES) {
            float[] x = random(rnd, n + 2);
            float[] y = random(rnd, n + 4);
            float[] before = y.clone();
            VectorMath.axpy(-1.5f, x, 2, y, 1, n);
            for (int i = 0; i < y.length; i++) {
                double expected = i >= 1 && i < 1 + n ? before[i] - 1.5 * x[2 + i - 1] : before[i];
                assertEquals(expected, y[i], 1e-6 * (1 + Math.abs(expected)), "n=" + n + " i=" + i);
            }
        }
    }

    @Test
    void elementwiseAddMulScaleIncludingAliasedOutput() {
        Random rnd = new Random(3);
        for (int n : SIZES) {
            float[] a = random(rnd, n);
            float[] b = random(rnd, n);
            float[] sum = new float[n];
            float[] prod = new float[n];
            VectorMath.add(a, b, sum, n);
            VectorMath.mul(a, b, prod, n);
            for (int i = 0; i < n; i++) {
                assertEquals(a[i] + b[i], sum[i], "add i=" + i);
                assertEquals(a[i] * b[i], prod[i], "mul i=" + i);
            }
            float[] inPlace = a.clone();
            VectorMath.add(inPlace, b, inPlace, n);
            assertArrayEquals(sum, inPlace);
            inPlace = a.clone();
            VectorMath.mul(inPlace, b, inPlace, n);
            assertArrayEquals(prod, inPlace);

            float[] scaled = a.clone();
            VectorMath.scale(scaled, 0.25f, n);
            for (int i = 0; i < n; i++) assertEquals(a[i] * 0.25f, scaled[i]);
        }
    }

    @Test
    void scaleWithOffsetTouchesOnlyItsSlice() {
        float[] x = new float[40];
        Arrays.fill(x, 2f);
        VectorMath.scale(x, 3, 33, -1f);
        for (int i = 0; i < x.length; i++) assertEquals(i >= 3 && i < 36 ? -2f : 2f, x[i], "i=" + i);
    }

    @Test
    void sumAndSumSquaresMatchDoubleReference() {
        Random rnd = new Random(4);
        for (int n : SIZES) {
            float[] x = random(rnd, n + 1);
            double s = 0;
            double sq = 0;
            for (int i = 0; i < n; i++) {
                s += x[1 + i];
                sq += (double) x[1 + i] * x[1 + i];
            }
            assertEquals(s, VectorMath.sum(x, 1, n), 1e-6 * (1 + n), "sum n=" + n);
            assertEquals(sq, VectorMath.sumSquares(x, 1, n), 1e-6 * (1 + sq), "sumSquares n=" + n);
        }
    }

    @Test
    void longSumsKeepSmallTermsThatPlainFloatAccumulationLoses() {
        // Every lane starts at 1, then a million terms below half an ulp of 1: a float accumulator drops
        // them all (sum 64), the block totals in double keep all but the first block's (sum ≈ 64.01).
        int n = 1_000_000;
        float[] x = new float[n];
        Arrays.fill(x, 1e-8f);
        Arrays.fill(x, 0, 64, 1f);
        double expected = 64 + (n - 64) * (double) 1e-8f;
        assertEquals(expected, VectorMath.sum(x, 0, n), 2e-5);
        Arrays.fill(x, 1e-4f);
        Arrays.fill(x, 0, 64, 1f);
        expected = 64 + (n - 64) * (double) 1e-4f * 1e-4f;
        assertEquals(expected, VectorMath.sumSquares(x, 0, n), 2e-5);
    }

    @Test
    void maxFindsLargestIncludingInTail() {
        Random rnd = new Random(5);
        for (int n : SIZES) {
            if (n == 0) continue;
            float[] x = random(rnd, n);
            for (int i = 0; i < n; i++) x[i] -= 10f;
            int where = rnd.nextInt(n);
            x[where] = 3f;
            assertEquals(3f, VectorMath.max(x, 0, n), "n=" + n);
        }
        assertEquals(Float.NEGATIVE_INFINITY, VectorMath.max(new float[3], 1, 0));
    }

    @Test
    void sumExpMatchesDoubleReference() {
        Random rnd = new Random(6);
        for (int n : SIZES) {
            float[] x = random(rnd, n);
            double expected = 0;
            for (float v : x) expected += Math.exp(v - 0.5);
            assertEquals(expected, VectorMath.sumExp(x, 0, n, 0.5f), 2e-6 * (1 + expected), "n=" + n);
        }
    }

    @Test
    void rowChunksCoverEveryRowExactlyOnce() {
        int[][] shapes = {{0, 10}, {1, 1}, {7, 33}, {1000, 1000}, {3, 50257}, {100_000, 1}, {129, 129}};
        for (int[] shape : shapes) {
            int rows = shape[0];
            AtomicIntegerArray visits = new AtomicIntegerArray(Math.max(rows, 1));
            VectorMath.forRows(rows, shape[1], (chunk, from, to) -> {
                assertTrue(from <= to);
                for (int r = from; r < to; r++) visits.incrementAndGet(r);
            });
            for (int r = 0; r < rows; r++) assertEquals(1, visits.get(r), "rows=" + rows + " row " + r);
        }
        assertTrue(VectorMath.chunkCount(1000, 1000) > 1 || Parallel.threads() == 1, "large work is split");
        assertEquals(1, VectorMath.chunkCount(7, 33), "small work stays serial");
    }

    @Test
    void checksRejectShortArraysAndNegativeShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VectorMath.checkLength("dx", new float[3], 4));
        assertTrue(e.getMessage().contains("dx"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VectorMath.checkShape(-1, 3));
    }

    private static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}
