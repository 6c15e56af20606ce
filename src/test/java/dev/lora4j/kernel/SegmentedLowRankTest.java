package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The segmented low-rank product against a plain triple loop, rows outside every segment untouched. */
class SegmentedLowRankTest {
    @Test
    void eachSegmentGetsItsOwnAdapterAndOtherRowsNone() {
        SplittableRandom rnd = new SplittableRandom(1);
        int rows = 11, in = 37, out = 29;
        int[] starts = {0, 3, 4, 9}, ends = {3, 4, 8, 11}, ranks = {4, 1, 8, 2};
        float[] scales = {0.5f, 2f, -1f, 0.25f};
        float[][] a = new float[4][], b = new float[4][];
        for (int s = 0; s < 4; s++) {
            a[s] = random(rnd, ranks[s] * in);
            b[s] = random(rnd, out * ranks[s]);
        }
        float[] x = random(rnd, rows * in), y = random(rnd, rows * out), expected = y.clone();
        for (int s = 0; s < 4; s++) {
            for (int r = starts[s]; r < ends[s]; r++) {
                for (int o = 0; o < out; o++) {
                    double acc = 0;
                    for (int k = 0; k < ranks[s]; k++) {
                        double h = 0;
                        for (int i = 0; i < in; i++) h += x[r * in + i] * a[s][k * in + i];
                        acc += h * b[s][o * ranks[s] + k];
                    }
                    expected[r * out + o] += (float) (scales[s] * acc);
                }
            }
        }
        // Row 8 is in no segment: it keeps its value exactly.
        SegmentedLowRank.addTo(x, in, y, out, starts, ends, a, b, ranks, scales);
        for (int i = 0; i < y.length; i++) assertEquals(expected[i], y[i], 1e-4f, "element " + i);
        for (int o = 0; o < out; o++) assertEquals(expected[8 * out + o], y[8 * out + o], 0f);
        // One segment alone takes the other path (the whole pool on one product).
        float[] y1 = new float[rows * out], e1 = new float[rows * out];
        SegmentedLowRank.addTo(x, in, y1, out, new int[] {2}, new int[] {7}, new float[][] {a[2]}, new float[][] {b[2]}, new int[] {8},
            new float[] {-1f});
        SegmentedLowRank.addTo(x, in, e1, out, new int[] {2, 9}, new int[] {7, 9}, new float[][] {a[2], a[0]}, new float[][] {b[2], b[0]},
            new int[] {8, 4}, new float[] {-1f, 1f});
        for (int i = 0; i < y1.length; i++) assertEquals(e1[i], y1[i], 1e-6f);
    }

    @Test
    void largeBatchesTakeTheParallelPathAndAgree() {
        SplittableRandom rnd = new SplittableRandom(2);
        int rows = 160, in = 512, out = 384, r = 16;
        int[] starts = {0, 50, 100}, ends = {50, 100, 160}, ranks = {r, r, r};
        float[] scales = {1f, 0.5f, 2f};
        float[][] a = new float[3][], b = new float[3][];
        for (int s = 0; s < 3; s++) {
            a[s] = random(rnd, r * in);
            b[s] = random(rnd, out * r);
        }
        float[] x = random(rnd, rows * in), together = new float[rows * out], oneByOne = new float[rows * out];
        SegmentedLowRank.addTo(x, in, together, out, starts, ends, a, b, ranks, scales);
        for (int s = 0; s < 3; s++) {
            SegmentedLowRank.addTo(x, in, oneByOne, out, new int[] {starts[s]}, new int[] {ends[s]}, new float[][] {a[s]},
                new float[][] {b[s]}, new int[] {r}, new float[] {scales[s]});
        }
        for (int i = 0; i < together.length; i++) assertEquals(oneByOne[i], together[i], 1e-3f, "element " + i);
        // And against the definition, on a few elements.
        for (int row : new int[] {0, 77, 159}) {
            int s = row < 50 ? 0 : row < 100 ? 1 : 2;
            for (int o : new int[] {0, 200, 383}) {
                double acc = 0;
                for (int k = 0; k < r; k++) {
                    double h = 0;
                    for (int i = 0; i < in; i++) h += x[row * in + i] * a[s][k * in + i];
                    acc += h * b[s][o * r + k];
                }
                assertEquals(scales[s] * acc, together[row * out + o], 1e-2);
            }
        }
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }
}
