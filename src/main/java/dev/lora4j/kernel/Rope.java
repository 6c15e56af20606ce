package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Rotary position embedding in the Hugging Face "rotate half" layout (Llama, Mistral, Qwen2): within each
 * head, element i is paired with element i + headDim/2 and the pair is rotated by position · invFreq[i].
 *
 * <p>A rotation's gradient is the opposite rotation, so the backward is {@code apply(dy, ..., inverse = true)}.
 */
public final class Rope {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private Rope() {}

    /** inv_freq[i] = 1 / theta^(2i / headDim) for i &lt; headDim/2, as the default rope of transformers. */
    public static float[] inverseFrequencies(int headDim, double theta) {
        checkHeadDim(headDim);
        float[] invFreq = new float[headDim / 2];
        for (int i = 0; i < invFreq.length; i++) {
            // Each step rounded to float as transformers does it in float32: at position 4000 one ulp of
            // inv_freq is already 2e-4 rad, so a more exact value would rotate differently from the reference.
            float exponent = (float) (2 * i) / headDim;
            invFreq[i] = 1f / (float) Math.pow(theta, exponent);
        }
        return invFreq;
    }

    /**
     * Rotates x [rows, heads·headDim] in place; row r is at position positions[r]. With inverse the rotation
     * is by -angle, which undoes the forward and is its backward.
     */
    public static void apply(float[] x, int rows, int heads, int headDim, int[] positions, float[] invFreq,
                             boolean inverse) {
        checkArguments(x, rows, heads, headDim, positions);
        int half = headDim / 2;
        if (invFreq.length < half) {
            throw new IllegalArgumentException("invFreq has " + invFreq.length + " entries, head dim " + headDim + " needs " + half);
        }
        int rowLength = heads * headDim;
        VectorMath.forRows(rows, rowLength, (chunk, from, to) -> {
            float[] cos = new float[half];
            float[] sin = new float[half];
            for (int r = from; r < to; r++) {
                angles(positions[r], invFreq, half, cos, sin, 0);
                rotateRow(x, r * rowLength, heads, headDim, cos, sin, 0, inverse);
            }
        });
    }

    /** As {@link #apply(float[], int, int, int, int[], float[], boolean)}, reading cos and sin from a table. */
    public static void apply(float[] x, int rows, int heads, int headDim, int[] positions, Table table,
                             boolean inverse) {
        checkArguments(x, rows, heads, headDim, positions);
        int half = headDim / 2;
        if (table.half != half) {
            throw new IllegalArgumentException("table is for head dim " + 2 * table.half + ", not " + headDim);
        }
        for (int r = 0; r < rows; r++) {
            if (positions[r] < 0 || positions[r] >= table.maxPositions) {
                throw new IllegalArgumentException("position " + positions[r] + " of row " + r
                        + " is outside the table's [0, " + table.maxPositions + ")");
            }
        }
        int rowLength = heads * headDim;
        VectorMath.forRows(rows, rowLength, (chunk, from, to) -> {
            for (int r = from; r < to; r++) {
                rotateRow(x, r * rowLength, heads, headDim, table.cos, table.sin, positions[r] * half, inverse);
            }
        });
    }

    /**
     * cos and sin of every position below maxPositions and every frequency, computed once so that the many
     * apply calls of a training step (queries and keys, forward and backward, every layer) only read them.
     */
    public static final class Table {
        private final int half;
        private final int maxPositions;
        private final float[] cos;
        private final float[] sin;

        public Table(float[] invFreq, int maxPositions) {
            if (maxPositions < 0) throw new IllegalArgumentException("negative maxPositions " + maxPositions);
            this.half = invFreq.length;
            this.maxPositions = maxPositions;
            this.cos = new float[Math.multiplyExact(maxPositions, half)];
            this.sin = new float[cos.length];
            for (int p = 0; p < maxPositions; p++) angles(p, invFreq, half, cos, sin, p * half);
        }

        public int maxPositions() {
            return maxPositions;
        }
    }

    private static void angles(int position, float[] invFreq, int half, float[] cos, float[] sin, int off) {
        for (int i = 0; i < half; i++) {
            // The angle is rounded to float as transformers computes it (float32 inv_freq times position),
            // so that long positions rotate like the reference; its cos and sin are taken in double.
            float angle = position * invFreq[i];
            cos[off + i] = (float) Math.cos(angle);
            sin[off + i] = (float) Math.sin(angle);
        }
    }

    private static void rotateRow(float[] x, int rowOff, int heads, int headDim, float[] cos, float[] sin, int csOff,
                                  boolean inverse) {
        int half = headDim / 2;
        int bound = SPECIES.loopBound(half);
        float sign = inverse ? -1f : 1f;
        for (int h = 0; h < heads; h++) {
            int lo = rowOff + h * headDim;
            int hi = lo + half;
            int i = 0;
            for (; i < bound; i += SPECIES.length()) {
                FloatVector x1 = FloatVector.fromArray(SPECIES, x, lo + i);
                FloatVector x2 = FloatVector.fromArray(SPECIES, x, hi + i);
                FloatVector c = FloatVector.fromArray(SPECIES, cos, csOff + i);
                FloatVector s = FloatVector.fromArray(SPECIES, sin, csOff + i).mul(sign);
                x1.mul(c).sub(x2.mul(s)).intoArray(x, lo + i);
                x2.mul(c).add(x1.mul(s)).intoArray(x, hi + i);
            }
            for (; i < half; i++) {
                float x1 = x[lo + i];
                float x2 = x[hi + i];
                float c = cos[csOff + i];
                float s = sign * sin[csOff + i];
                x[lo + i] = x1 * c - x2 * s;
                x[hi + i] = x2 * c + x1 * s;
            }
        }
    }

    private static void checkHeadDim(int headDim) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("head dim must be positive and even, got " + headDim);
        }
    }

    private static void checkArguments(float[] x, int rows, int heads, int headDim, int[] positions) {
        checkHeadDim(headDim);
        if (rows < 0 || heads < 0) throw new IllegalArgumentException("negative rows " + rows + " or heads " + heads);
        VectorMath.checkLength("x", x, (long) rows * heads * headDim);
        if (positions.length < rows) {
            throw new IllegalArgumentException("positions has " + positions.length + " entries for " + rows + " rows");
        }
    }
}
