package dev.lora4j.kernel;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Softmax cross-entropy over the rows of a logits matrix [rows, vocab], loss and gradient in one fused pass
 * per row, never holding more than the logits themselves: with a 50k vocabulary a softmax copy of the whole
 * batch would double the largest activation of a language model.
 */
public final class CrossEntropy {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private CrossEntropy() {}

    /** Summed loss over the rows that count, and how many rows counted (targets other than ignoreIndex). */
    public record Result(double lossSum, int count) {
        /** Mean loss per counted row, as torch's reduction='mean'; NaN when no row counted, as in torch. */
        public double mean() {
            return lossSum / count;
        }
    }

    /**
     * For every row r with targets[r] != ignoreIndex: loss_r = logsumexp(logits[r]) - logits[r][targets[r]],
     * and, when dLogits is not null, dLogits[r] += gradScale · (softmax(logits[r]) - onehot(targets[r])).
     * Rows with targets[r] == ignoreIndex add nothing to the loss or to dLogits.
     *
     * <p>dLogits may be logits itself, to take the gradient in place without a second vocabulary-sized
     * buffer: then every row is <em>overwritten</em> with its gradient (ignored rows with zeros), not added to.
     * gradScale is typically 1/count for a mean loss, times any loss weight.
     *
     * @throws IllegalArgumentException if a target is neither ignoreIndex nor in [0, vocab); nothing is written then
     */
    public static Result forwardBackward(float[] logits, int rows, int vocab, int[] targets, int ignoreIndex,
                                         float[] dLogits, float gradScale) {
        VectorMath.checkShape(rows, vocab);
        VectorMath.checkLength("logits", logits, (long) rows * vocab);
        if (dLogits != null) VectorMath.checkLength("dLogits", dLogits, (long) rows * vocab);
        if (targets.length < rows) {
            throw new IllegalArgumentException("targets has " + targets.length + " entries for " + rows + " rows");
        }
        for (int r = 0; r < rows; r++) {
            int t = targets[r];
            if (t != ignoreIndex && (t < 0 || t >= vocab)) {
                throw new IllegalArgumentException("target " + t + " of row " + r + " is outside the vocabulary [0, "
                        + vocab + ") and is not the ignore index " + ignoreIndex);
            }
        }

        boolean inPlace = dLogits == logits;
        int chunks = VectorMath.chunkCount(rows, vocab);
        double[] lossParts = new double[chunks];
        int[] countParts = new int[chunks];
        VectorMath.forChunks(rows, chunks, (chunk, from, to) -> {
            double loss = 0;
            int count = 0;
            for (int r = from; r < to; r++) {
                int off = r * vocab;
                int t = targets[r];
                if (t == ignoreIndex) {
                    if (inPlace) Arrays.fill(dLogits, off, off + vocab, 0f);
                    continue;
                }
                float max = VectorMath.max(logits, off, vocab);
                double logSumExp = max + Math.log(VectorMath.sumExp(logits, off, vocab, max));
                // Read the target logit before an in-place gradient overwrites it.
                loss += logSumExp - logits[off + t];
                count++;
                if (dLogits != null) gradientRow(logits, dLogits, off, vocab, t, (float) logSumExp, gradScale, inPlace);
            }
            lossParts[chunk] = loss;
            countParts[chunk] = count;
        });
        double loss = 0;
        int count = 0;
        for (int c = 0; c < chunks; c++) {
            loss += lossParts[c];
            count += countParts[c];
        }
        return new Result(loss, count);
    }

    private static void gradientRow(float[] logits, float[] dLogits, int off, int n, int target, float logSumExp,
                                    float scale, boolean assign) {
        FloatVector vLse = FloatVector.broadcast(SPECIES, logSumExp);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector g = VectorMath.exp(FloatVector.fromArray(SPECIES, logits, off + i).sub(vLse)).mul(scale);
            if (!assign) g = g.add(FloatVector.fromArray(SPECIES, dLogits, off + i));
            g.intoArray(dLogits, off + i);
        }
        for (; i < n; i++) {
            float g = scale * (float) Math.exp(logits[off + i] - logSumExp);
            dLogits[off + i] = assign ? g : dLogits[off + i] + g;
        }
        dLogits[off + target] -= scale;
    }
}
