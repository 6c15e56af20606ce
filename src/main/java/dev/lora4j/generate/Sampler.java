package dev.lora4j.generate;

import java.util.Arrays;
import java.util.Objects;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from one row of logits, the way transformers' {@code generate} does:
 * <ol>
 *   <li>repetition penalty over the tokens seen so far (also in greedy mode, as transformers applies its
 *       logits processors before choosing);</li>
 *   <li>greedy (temperature 0): argmax, ties to the lowest id; otherwise</li>
 *   <li>logits / temperature;</li>
 *   <li>top-k (TopKLogitsWarper): drop tokens whose logit is below the k-th largest; ties with the k-th stay;</li>
 *   <li>top-p (TopPLogitsWarper): sort ascending, drop tokens whose cumulative probability is {@code <= 1 - p},
 *       always keeping the most probable one; equivalently keep a token when the probability of the tokens
 *       ranked above it is {@code < p}; among equal logits the lower id ranks higher;</li>
 *   <li>a draw from the softmax over what is left (stable: max subtracted, computed in double).</li>
 * </ol>
 * Speed: one pass over the vocabulary for penalty/temperature/softmax, a size-k heap for top-k, and for top-p a
 * sort of only the tokens that can survive: a token whose probability is at most (1 - p)/(2·n) can never be in
 * the nucleus (all tokens at or below it together hold less than 1 - p), so it is dropped before sorting, which
 * leaves a handful in practice instead of the whole vocabulary.
 *
 * <p>Keeps scratch buffers between calls (no per-token garbage), so an instance is not thread-safe; use one per
 * generation thread.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final double repetitionPenalty;

    private float[] scores = new float[0];
    private int[] candidates = new int[0];
    private double[] weights = new double[0];
    private long[] keys = new long[0];
    private float[] heap = new float[0];

    public Sampler(SamplingOptions options) {
        Objects.requireNonNull(options, "options");
        this.temperature = options.temperature();
        this.topK = options.topK();
        this.topP = options.topP();
        this.repetitionPenalty = options.repetitionPenalty();
    }

    /** Same checks as {@link SamplingOptions}. */
    public Sampler(double temperature, int topK, double topP, double repetitionPenalty) {
        this(new SamplingOptions(1, temperature, topK, topP, 0, repetitionPenalty, Set.of()));
    }

    /** The next token for {@code logits} [vocab], with no history (so no repetition penalty). */
    public int sample(float[] logits, RandomGenerator rng) {
        return sample(logits, 0, logits.length, null, 0, rng);
    }

    /**
     * The next token for {@code logits} [vocab] after {@code history[0, historyLength)} (prompt and generated
     * tokens so far, used by the repetition penalty). {@code rng} is not touched in greedy mode.
     */
    public int sample(float[] logits, int[] history, int historyLength, RandomGenerator rng) {
        return sample(logits, 0, logits.length, history, historyLength, rng);
    }

    /** As above, for the row {@code logits[offset, offset + vocab)}. */
    public int sample(float[] logits, int offset, int vocab, int[] history, int historyLength, RandomGenerator rng) {
        load(logits, offset, vocab, history, historyLength);
        if (temperature == 0) return argmax(scores, vocab);
        Objects.requireNonNull(rng, "rng (needed when temperature > 0)");
        int n = warp(vocab);
        double total = 0;
        for (int j = 0; j < n; j++) total += weights[j];
        double u = rng.nextDouble() * total;
        double acc = 0;
        for (int j = 0; j < n; j++) {
            acc += weights[j];
            if (u < acc) return candidates[j];
        }
        return candidates[n - 1]; // u rounded up to total
    }

    /**
     * The scores transformers would sample from: penalised, tempered, with the tokens top-k and top-p remove
     * set to -Infinity (greedy mode: only the penalty, as transformers applies no warpers there). A new array;
     * for inspection and tests, {@link #sample} does not build it.
     */
    public float[] processedLogits(float[] logits, int[] history, int historyLength) {
        int vocab = logits.length;
        load(logits, 0, vocab, history, historyLength);
        if (temperature == 0) return Arrays.copyOf(scores, vocab);
        int n = warp(vocab);
        float[] out = new float[vocab];
        Arrays.fill(out, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < n; j++) out[candidates[j]] = scores[candidates[j]];
        return out;
    }

    /** Index of the largest value, the lowest index among equals. NaN is rejected. */
    public static int argmax(float[] logits) {
        checkNoNaN(logits, 0, logits.length);
        return argmax(logits, logits.length);
    }

    /**
     * transformers' repetition penalty on a copy of {@code logits}: each distinct token of
     * {@code history[0, historyLength)} has its logit divided by {@code penalty} if positive (zero stays zero),
     * multiplied by it if negative. Duplicates in the history count once.
     */
    public static float[] withRepetitionPenalty(float[] logits, int[] history, int historyLength, double penalty) {
        float[] out = Arrays.copyOf(logits, logits.length);
        penalize(logits, 0, out, logits.length, history, historyLength, penalty);
        return out;
    }

    // ---------------------------------------------------------------------------------------------------------

    /** Copies the row into {@link #scores}, checks it, applies the penalty. */
    private void load(float[] logits, int offset, int vocab, int[] history, int historyLength) {
        Objects.requireNonNull(logits, "logits");
        if (vocab <= 0) throw new IllegalArgumentException("empty logits row");
        if (offset < 0 || offset + vocab > logits.length) {
            throw new IllegalArgumentException(
                    "logits row [" + offset + ", " + (offset + vocab) + ") outside array of " + logits.length);
        }
        checkNoNaN(logits, offset, vocab);
        if (scores.length < vocab) grow(vocab);
        System.arraycopy(logits, offset, scores, 0, vocab);
        if (repetitionPenalty != 1.0 && history != null) {
            penalize(logits, offset, scores, vocab, history, historyLength, repetitionPenalty);
        }
    }

    private static void penalize(float[] src, int offset, float[] dst, int vocab, int[] history, int historyLength,
                                 double penalty) {
        if (historyLength < 0 || historyLength > history.length) {
            throw new IllegalArgumentException(
                    "historyLength " + historyLength + " outside history of " + history.length);
        }
        for (int i = 0; i < historyLength; i++) {
            int t = history[i];
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("history token id " + t + " outside vocabulary of " + vocab);
            }
            float s = src[offset + t]; // from the source, so repeated ids are penalised once
            dst[t] = s < 0 ? (float) (s * penalty) : (float) (s / penalty);
        }
    }

    /**
     * Temperature, top-k, top-p on {@link #scores}; leaves the surviving ids in {@code candidates[0, n)} with
     * unnormalised probabilities exp(score - max) in {@code weights[0, n)}; returns n >= 1.
     */
    private int warp(int vocab) {
        if (temperature != 1.0) {
            for (int i = 0; i < vocab; i++) scores[i] = (float) (scores[i] / temperature);
        }
        float threshold = topK > 0 && topK < vocab ? kthLargest(vocab, topK) : Float.NEGATIVE_INFINITY;
        int n = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float s = scores[i];
            if (s >= threshold && s != Float.NEGATIVE_INFINITY) {
                candidates[n++] = i;
                if (s > max) max = s;
            }
        }
        if (n == 0) throw new IllegalStateException("every logit is -Infinity: no token can be sampled");
        double total = 0;
        for (int j = 0; j < n; j++) {
            weights[j] = weight(scores[candidates[j]], max);
            total += weights[j];
        }
        if (topP >= 1.0) return n;

        // Nucleus. Tokens with probability <= (1-p)/(2n) all lie in the removed tail; sort only the rest.
        double cutoff = 0.5 * (1.0 - topP) / n * total;
        int m = 0;
        for (int j = 0; j < n; j++) {
            if (weights[j] > cutoff) keys[m++] = sortKey(scores[candidates[j]], candidates[j]);
        }
        Arrays.sort(keys, 0, m); // ascending by score, then by descending id
        double needed = topP * total;
        double cumulative = 0;
        int kept = 0;
        for (int r = m - 1; r >= 0; r--) { // most probable first
            int id = Integer.MAX_VALUE - (int) (keys[r] & 0xFFFF_FFFFL);
            double w = weight(scores[id], max);
            candidates[kept] = id;
            weights[kept] = w;
            kept++;
            cumulative += w;
            if (cumulative >= needed) break; // the tokens ranked below have >= p above them
        }
        return kept;
    }

    private static double weight(float score, float max) {
        if (max == Float.POSITIVE_INFINITY) return score == Float.POSITIVE_INFINITY ? 1.0 : 0.0;
        return Math.exp((double) score - max);
    }

    /** A long whose signed order is (score ascending, id descending). */
    private static long sortKey(float score, int id) {
        int bits = Float.floatToRawIntBits(score == 0f ? 0f : score); // -0 == +0
        int ordered = bits ^ ((bits >> 31) & 0x7FFF_FFFF);
        return ((long) ordered << 32) | (Integer.MAX_VALUE - id);
    }

    /** The k-th largest of scores[0, vocab), 1 <= k < vocab, with a size-k min-heap. */
    private float kthLargest(int vocab, int k) {
        if (heap.length < k) heap = new float[k];
        float[] h = heap;
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            float v = scores[i];
            if (size < k) {
                int c = size++;
                while (c > 0) { // sift up
                    int p = (c - 1) >>> 1;
                    if (h[p] <= v) break;
                    h[c] = h[p];
                    c = p;
                }
                h[c] = v;
            } else if (v > h[0]) {
                int c = 0;
                while (true) { // sift down
                    int l = 2 * c + 1;
                    if (l >= k) break;
                    int r = l + 1;
                    int s = r < k && h[r] < h[l] ? r : l;
                    if (h[s] >= v) break;
                    h[c] = h[s];
                    c = s;
                }
                h[c] = v;
            }
        }
        return h[0];
    }

    private static int argmax(float[] a, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    private static void checkNoNaN(float[] a, int offset, int n) {
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(a[offset + i])) {
                throw new IllegalStateException("logit of token " + i + " is NaN (the model's output is broken)");
            }
        }
    }

    private void grow(int vocab) {
        scores = new float[vocab];
        candidates = new int[vocab];
        weights = new double[vocab];
        keys = new long[vocab];
    }
}
