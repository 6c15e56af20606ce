package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Row-wise softmax over a row-major [rows, cols] matrix (attention probabilities), forward and backward. */
public final class Softmax {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private Softmax() {}

    /** y[r] = softmax(x[r]) for every row; y may be x. */
    public static void forward(float[] x, float[] y, int rows, int cols) {
        VectorMath.checkShape(rows, cols);
        VectorMath.checkLength("x", x, (long) rows * cols);
        VectorMath.checkLength("y", y, (long) rows * cols);
        VectorMath.forRows(rows, cols, (chunk, from, to) -> {
            for (int r = from; r < to; r++) forwardRow(x, y, r * cols, cols);
        });
    }

    /** dx[r] += y[r] ⊙ (dy[r] - ⟨dy[r], y[r]⟩), from the saved output y. */
    public static void backward(float[] y, float[] dy, float[] dx, int rows, int cols) {
        VectorMath.checkShape(rows, cols);
        VectorMath.checkLength("y", y, (long) rows * cols);
        VectorMath.checkLength("dy", dy, (long) rows * cols);
        VectorMath.checkLength("dx", dx, (long) rows * cols);
        VectorMath.forRows(rows, cols, (chunk, from, to) -> {
            for (int r = from; r < to; r++) backwardRow(y, dy, dx, r * cols, cols);
        });
    }

    private static void forwardRow(float[] x, float[] y, int off, int n) {
        // Subtracting the row max keeps exp from overflowing; the result is unchanged.
        float max = VectorMath.max(x, off, n);
        FloatVector vMax = FloatVector.broadcast(SPECIES, max);
        FloatVector acc = FloatVector.zero(SPECIES);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(SPECIES, x, off + i).sub(vMax));
            e.intoArray(y, off + i);
            acc = acc.add(e);
        }
        float sum = VectorMath.sumLanes(acc);
        for (; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            y[off + i] = e;
            sum += e;
        }
        VectorMath.scale(y, off, n, 1f / sum);
    }

    private static void backwardRow(float[] y, float[] dy, float[] dx, int off, int n) {
        float dot = VectorMath.dot(dy, off, y, off, n);
        FloatVector vDot = FloatVector.broadcast(SPECIES, dot);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector vy = FloatVector.fromArray(SPECIES, y, off + i);
            FloatVector g = FloatVector.fromArray(SPECIES, dy, off + i).sub(vDot);
            g.fma(vy, FloatVector.fromArray(SPECIES, dx, off + i)).intoArray(dx, off + i);
        }
        for (; i < n; i++) dx[off + i] += y[off + i] * (dy[off + i] - dot);
    }
}
