package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    // ----- transformers' warpers transcribed literally (generation/logits_process.py), as the oracle -----

    /** TopKLogitsWarper: scores < topk(scores, k).values[-1] -> -inf. */
    static float[] hfTopK(float[] scores, int topK) {
        if (topK == 0) return scores.clone();
        int k = Math.min(Math.max(topK, 1), scores.length);
        float[] sorted = scores.clone();
        Arrays.sort(sorted);
        float kth = sorted[sorted.length - k];
        float[] out = scores.clone();
        for (int i = 0; i < out.length; i++) if (out[i] < kth) out[i] = NEG_INF;
        return out;
    }

    /**
     * TopPLogitsWarper: sort ascending, cumulative softmax, remove where cumsum <= 1 - top_p, but keep the last
     * (most probable) one.
     */
    static float[] hfTopP(float[] scores, double topP) {
        if (topP >= 1.0) return scores.clone();
        Integer[] asc = IntStream.range(0, scores.length).boxed().toArray(Integer[]::new);
        Arrays.sort(asc, Comparator.comparingDouble(i -> scores[i]));
        double max = Double.NEGATIVE_INFINITY;
        for (float s : scores) max = Math.max(max, s);
        double z = 0;
        for (float s : scores) z += Math.exp(s - max);
        float[] out = scores.clone();
        double cum = 0;
        for (int r = 0; r < asc.length; r++) {
            cum += Math.exp(scores[asc[r]] - max) / z;
            boolean remove = cum <= 1 - topP;
            if (r == asc.length - 1) remove = false; // min_tokens_to_keep = 1
            if (remove) out[asc[r]] = NEG_INF;
        }
        return out;
    }

    static float[] hfTemperature(float[] scores, double t) {
        float[] out = scores.clone();
        for (int i = 0; i < out.length; i++) out[i] = (float) (out[i] / t);
        return out;
    }

    static double[] softmax(float[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) max = Math.max(max, v);
        double[] p = new double[x.length];
        double z = 0;
        for (int i = 0; i < x.length; i++) z += p[i] = x[i] == NEG_INF ? 0 : Math.exp(x[i] - max);
        for (int i = 0; i < x.length; i++) p[i] /= z;
        return p;
    }

    // ----- greedy -----

    @Test
    void greedyIsArgmaxWithTiesToLowestId() {
        Sampler s = new Sampler(0, 0, 1.0, 1.0);
        assertEquals(2, s.sample(new float[] {1, 2, 5, 5, -1}, null));
        assertEquals(0, s.sample(new float[] {7, 7, 7}, null));
        assertEquals(3, s.sample(new float[] {NEG_INF, -5, -4, -1}, null));
        assertEquals(1, Sampler.argmax(new float[] {0, Float.POSITIVE_INFINITY, 3}));
    }

    // ----- exclusion rules -----

    @Test
    void topKKeepsExactlyTheKLargestAndTiesWithTheKth() {
        Sampler k2 = new Sampler(1.0, 2, 1.0, 1.0);
        float[] logits = {0.5f, 3f, -1f, 2f, 1f};
        assertArrayEquals(new float[] {NEG_INF, 3f, NEG_INF, 2f, NEG_INF}, k2.processedLogits(logits, null, 0));
        // ties with the k-th value stay, as transformers compares "< k-th value"
        float[] tied = {1f, 3f, 2f, 2f, 0f};
        assertArrayEquals(new float[] {NEG_INF, 3f, 2f, 2f, NEG_INF}, k2.processedLogits(tied, null, 0));
        // k >= vocab keeps everything
        assertArrayEquals(logits, new Sampler(1.0, 9, 1.0, 1.0).processedLogits(logits, null, 0));
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        double[] probs = {0.05, 0.5, 0.15, 0.3}; // ranked: 1 (0.5), 3 (0.3), 2 (0.15), 0 (0.05)
        float[] logits = new float[probs.length];
        for (int i = 0; i < probs.length; i++) logits[i] = (float) Math.log(probs[i]);
        assertKept(logits, 0.4, 1);          // 0.5 already >= 0.4
        assertKept(logits, 0.75, 1, 3);      // 0.5 < 0.75 <= 0.8
        assertKept(logits, 0.85, 1, 3, 2);   // 0.8 < 0.85 <= 0.95
        assertKept(logits, 0.99, 0, 1, 2, 3);
        assertKept(logits, 1e-9, 1);         // at least one always stays
        // a dominant token alone
        assertKept(new float[] {10f, 0f, 0f, 0f}, 0.9, 0);
    }

    private static void assertKept(float[] logits, double p, int... expected) {
        float[] out = new Sampler(1.0, 0, p, 1.0).processedLogits(logits, null, 0);
        int[] kept = IntStream.range(0, out.length).filter(i -> out[i] != NEG_INF).toArray();
        Arrays.sort(expected);
        assertArrayEquals(expected, kept, "top-p " + p);
        for (int i : kept) assertEquals(logits[i], out[i]);
        assertArrayEquals(hfTopP(logits, p), out, "transformers' rule, top-p " + p);
    }

    @Test
    void warpersMatchTransformersOnRandomLogits() {
        SplittableRandom r = new SplittableRandom(7);
        for (int trial = 0; trial < 3000; trial++) {
            int vocab = 1 + r.nextInt(60);
            float[] logits = new float[vocab];
            double scale = r.nextDouble(0.1, 8);
            for (int i = 0; i < vocab; i++) logits[i] = (float) (r.nextGaussian() * scale);
            if (vocab > 3 && r.nextInt(4) == 0) logits[r.nextInt(vocab)] = NEG_INF;
            double t = r.nextInt(5) == 0 ? 1.0 : r.nextDouble(0.05, 4);
            int k = r.nextInt(3) == 0 ? 0 : 1 + r.nextInt(vocab + 2);
            double p = r.nextInt(3) == 0 ? 1.0 : r.nextDouble(0.01, 1.0);
            float[] expected = hfTopP(hfTopK(hfTemperature(logits, t), k), p);
            float[] actual = new Sampler(t, k, p, 1.0).processedLogits(logits, null, 0);
            assertArrayEquals(expected, actual, "trial " + trial + " vocab " + vocab + " T " + t + " k " + k + " p " + p);
        }
    }

    @Test
    void warpersOnALargeVocabularyMatchTransformers() {
        SplittableRandom r = new SplittableRandom(8);
        float[] logits = new float[50_000];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 3);
        for (double p : new double[] {0.1, 0.5, 0.9, 0.99}) {
            for (int k : new int[] {0, 50, 1000}) {
                float[] expected = hfTopP(hfTopK(hfTemperature(logits, 0.8), k), p);
                assertArrayEquals(expected, new Sampler(0.8, k, p, 1.0).processedLogits(logits, null, 0),
                        "k " + k + " p " + p);
            }
        }
    }

    // ----- repetition penalty -----

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeOnce() {
        float[] logits = {2f, -2f, 0f, 1f, 3f};
        int[] history = {0, 1, 0, 2, 99};
        float[] out = Sampler.withRepetitionPenalty(logits, history, 4, 2.0);
        assertArrayEquals(new float[] {1f, -4f, 0f, 1f, 3f}, out); // token 0 seen twice, penalised once
        assertArrayEquals(new float[] {2f, -2f, 0f, 1f, 3f}, logits, "input untouched");
        // in greedy mode the penalty alone applies and can change the choice
        Sampler greedy = new Sampler(0, 0, 1.0, 2.0);
        assertArrayEquals(new float[] {1f, -4f, 0f, 1f, 3f}, greedy.processedLogits(logits, history, 4));
        assertEquals(1, greedy.sample(new float[] {3f, 2f}, new int[] {0}, 1, null)); // 1.5 < 2
        assertEquals(0, new Sampler(0, 0, 1.0, 1.0).sample(new float[] {3f, 2f}, new int[] {0}, 1, null));
        // penalty < 1 encourages repeats
        assertArrayEquals(new float[] {4f, -1f}, Sampler.withRepetitionPenalty(new float[] {2f, -2f}, new int[] {0, 1}, 2, 0.5));
        // then temperature, as in transformers (penalty first)
        float[] warped = new Sampler(2.0, 0, 1.0, 2.0).processedLogits(logits, history, 4);
        assertArrayEquals(new float[] {0.5f, -2f, 0f, 0.5f, 1.5f}, warped);
        var e = assertThrows(IllegalArgumentException.class,
                () -> Sampler.withRepetitionPenalty(logits, new int[] {5}, 1, 2.0));
        assertTrue(e.getMessage().contains("outside vocabulary"), e.getMessage());
    }

    // ----- the draw -----

    @Test
    void empiricalFrequenciesMatchSoftmaxWithinThreeSigma() {
        float[] logits = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 1.5f};
        checkFrequencies(logits, new Sampler(0.7, 0, 1.0, 1.0), softmax(hfTemperature(logits, 0.7)), 1);
        checkFrequencies(logits, new Sampler(1.3, 0, 1.0, 1.0), softmax(hfTemperature(logits, 1.3)), 2);
        // with filters: the draw is the softmax of what is left, and removed tokens never appear
        double[] filtered = softmax(hfTopP(hfTopK(hfTemperature(logits, 1.5), 4), 0.8));
        checkFrequencies(logits, new Sampler(1.5, 4, 0.8, 1.0), filtered, 3);
    }

    private static void checkFrequencies(float[] logits, Sampler sampler, double[] p, long seed) {
        int n = 20_000;
        int[] counts = new int[logits.length];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) counts[sampler.sample(logits, rng)]++;
        for (int i = 0; i < logits.length; i++) {
            double expected = n * p[i];
            double sigma = Math.sqrt(n * p[i] * (1 - p[i]));
            if (p[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " was filtered out");
            } else {
                assertTrue(Math.abs(counts[i] - expected) <= 3 * sigma,
                        "token " + i + ": " + counts[i] + " draws, expected " + expected + " ± " + 3 * sigma);
            }
        }
    }

    @Test
    void sameSeedSameDrawsAndHugeLogitsStayStable() {
        float[] logits = {1000f, 999f, -1000f, 998.5f};
        Sampler s = new Sampler(1.0, 0, 1.0, 1.0);
        int[] a = new int[200];
        int[] b = new int[200];
        SplittableRandom ra = new SplittableRandom(5);
        SplittableRandom rb = new SplittableRandom(5);
        for (int i = 0; i < 200; i++) {
            a[i] = s.sample(logits, ra);
            b[i] = s.sample(logits, rb);
        }
        assertArrayEquals(a, b);
        assertTrue(IntStream.of(a).allMatch(t -> t != 2));
        assertTrue(IntStream.of(a).anyMatch(t -> t == 1), "exp(999-1000) is not negligible");
    }

    @Test
    void rejectsNaNAndAllMinusInfinity() {
        Sampler s = new Sampler(1.0, 0, 0.9, 1.0);
        var e = assertThrows(IllegalStateException.class, () -> s.sample(new float[] {0, Float.NaN}, new SplittableRandom(1)));
        assertTrue(e.getMessage().contains("token 1 is NaN"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> s.sample(new float[] {NEG_INF, NEG_INF}, new SplittableRandom(1)));
        assertTrue(e.getMessage().contains("-Infinity"), e.getMessage());
    }
}
