package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DropoutTest {
    private static final int N = 1_000_000;

    @Test
    void keptFractionIsOneMinusPWithinFiveSigma() {
        for (float p : new float[] {0.05f, 0.1f, 0.5f, 0.9f}) {
            for (long seed : new long[] {0, 1, 42, -7}) {
                int kept = 0;
                for (int i = 0; i < N; i++) if (Dropout.keep(seed, i, p)) kept++;
                double sigma = Math.sqrt(p * (1.0 - p) / N);
                double fraction = kept / (double) N;
                assertEquals(1 - p, fraction, 5 * sigma, "p=" + p + " seed=" + seed);
            }
        }
    }

    @Test
    void forwardScalesKeptElementsAndZeroesTheRest() {
        float p = 0.3f;
        long seed = 1234;
        float[] x = random(new Random(81), N);
        float[] y = new float[N];
        Dropout.forward(x, y, N, p, seed);
        float scale = 1f / (1f - p);
        for (int i = 0; i < N; i++) {
            float expected = Dropout.keep(seed, i, p) ? x[i] * scale : 0f;
            assertEquals(expected, y[i], "i=" + i);
        }
        float[] again = new float[N];
        Dropout.forward(x, again, N, p, seed);
        assertArrayEquals(y, again, "same seed, same mask");
        float[] inPlace = x.clone();
        Dropout.forward(inPlace, inPlace, N, p, seed);
        assertArrayEquals(y, inPlace, "in place");
    }

    @Test
    void differentSeedsGiveIndependentMasks() {
        float p = 0.5f;
        int agree = 0;
        for (int i = 0; i < N; i++) if (Dropout.keep(1, i, p) == Dropout.keep(2, i, p)) agree++;
        // Independent masks agree with probability p² + (1-p)² = 0.5.
        assertEquals(0.5, agree / (double) N, 5 * Math.sqrt(0.25 / N));
        // Nor is one seed's mask another's shifted by a few positions.
        int shifted = 0;
        for (int i = 0; i < N - 1; i++) if (Dropout.keep(1, i + 1, p) == Dropout.keep(2, i, p)) shifted++;
        assertEquals(0.5, shifted / (double) (N - 1), 5 * Math.sqrt(0.25 / N));
    }

    @Test
    void backwardAddsTheGradientThroughTheSameMask() {
        float p = 0.25f;
        long seed = 99;
        Random rnd = new Random(82);
        float[] dy = random(rnd, N);
        float[] dx = random(rnd, N);
        float[] before = dx.clone();
        Dropout.backward(dy, dx, N, p, seed);
        float[] ones = new float[N];
        Arrays.fill(ones, 1f);
        float[] mask = new float[N];
        Dropout.forward(ones, mask, N, p, seed);
        for (int i = 0; i < N; i++) assertEquals(before[i] + mask[i] * dy[i], dx[i], 1e-6f, "i=" + i);
    }

    @Test
    void zeroProbabilityIsTheIdentity() {
        float[] x = random(new Random(83), 1000);
        float[] y = new float[1000];
        Dropout.forward(x, y, 1000, 0f, 5);
        assertArrayEquals(x, y);
        float[] dx = new float[1000];
        Arrays.fill(dx, 1f);
        Dropout.backward(x, dx, 1000, 0f, 5);
        for (int i = 0; i < 1000; i++) assertEquals(1f + x[i], dx[i]);
        assertTrue(Dropout.keep(5, 0, 0f));
    }

    @Test
    void rejectsProbabilitiesOutsideZeroToOne() {
        float[] x = new float[4];
        for (float p : new float[] {-0.1f, 1f, 1.5f, Float.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Dropout.forward(x, x, 4, p, 0));
            assertTrue(e.getMessage().contains(String.valueOf(p)), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Dropout.backward(x, x, 4, p, 0));
        }
        assertThrows(IllegalArgumentException.class, () -> Dropout.forward(x, new float[3], 4, 0.1f, 0));
    }

    private static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}
