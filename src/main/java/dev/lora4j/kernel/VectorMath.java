package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small vectorised loops over float arrays (dot, axpy, sums, elementwise arithmetic) that autograd ops and the
 * other kernels are built from, plus the row-chunking every row-wise kernel of this package shares.
 *
 * <p>The arithmetic helpers are serial on purpose: they are the inner loops of kernels that already split
 * their work over {@link Parallel}.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    /**
     * Sums are accumulated in float lanes over blocks this long and the block totals in double: cheap, and a
     * sum over millions of elements (a gradient norm, a 50k-vocabulary softmax) keeps its small terms.
     * A multiple of every vector length.
     */
    private static final int SUM_BLOCK = 1024;

    private VectorMath() {}

    /** Σ a[aOff+i]·b[bOff+i] for i &lt; n. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(SPECIES);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            acc = FloatVector.fromArray(SPECIES, a, aOff + i).fma(FloatVector.fromArray(SPECIES, b, bOff + i), acc);
        }
        float sum = sumLanes(acc);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    /** y[yOff+i] += alpha·x[xOff+i] for i &lt; n. */
    public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector va = FloatVector.broadcast(SPECIES, alpha);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, x, xOff + i).fma(va, FloatVector.fromArray(SPECIES, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    /** out = a + b over the first n elements; out may be a or b. */
    public static void add(float[] a, float[] b, float[] out, int n) {
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, a, i).add(FloatVector.fromArray(SPECIES, b, i)).intoArray(out, i);
        }
        for (; i < n; i++) out[i] = a[i] + b[i];
    }

    /** out = a · b elementwise over the first n elements; out may be a or b. */
    public static void mul(float[] a, float[] b, float[] out, int n) {
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, a, i).mul(FloatVector.fromArray(SPECIES, b, i)).intoArray(out, i);
        }
        for (; i < n; i++) out[i] = a[i] * b[i];
    }

    /** out[outOff..] = a[aOff..] · b[bOff..] elementwise over n elements. */
    public static void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, a, aOff + i).mul(FloatVector.fromArray(SPECIES, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = a[aOff + i] * b[bOff + i];
    }

    /** x *= s over the first n elements. */
    public static void scale(float[] x, float s, int n) {
        scale(x, 0, n, s);
    }

    /** x[off+i] *= s for i &lt; n. */
    public static void scale(float[] x, int off, int n, float s) {
        FloatVector vs = FloatVector.broadcast(SPECIES, s);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, x, off + i).mul(vs).intoArray(x, off + i);
        }
        for (; i < n; i++) x[off + i] *= s;
    }

    /** Σ x[off+i]² for i &lt; n, accumulated in double (gradient norms over whole models). */
    public static double sumSquares(float[] x, int off, int n) {
        double total = 0;
        int i = 0;
        int bound = SPECIES.loopBound(n);
        while (i < bound) {
            int blockEnd = Math.min(bound, i + SUM_BLOCK);
            FloatVector acc = FloatVector.zero(SPECIES);
            for (; i < blockEnd; i += SPECIES.length()) {
                FloatVector v = FloatVector.fromArray(SPECIES, x, off + i);
                acc = v.fma(v, acc);
            }
            total += sumLanes(acc);
        }
        for (; i < n; i++) total += (double) x[off + i] * x[off + i];
        return total;
    }

    /** Σ x[off+i] for i &lt; n (block totals kept in double, so long sums stay accurate). */
    public static float sum(float[] x, int off, int n) {
        double total = 0;
        int i = 0;
        int bound = SPECIES.loopBound(n);
        while (i < bound) {
            int blockEnd = Math.min(bound, i + SUM_BLOCK);
            FloatVector acc = FloatVector.zero(SPECIES);
            for (; i < blockEnd; i += SPECIES.length()) acc = acc.add(FloatVector.fromArray(SPECIES, x, off + i));
            total += sumLanes(acc);
        }
        for (; i < n; i++) total += x[off + i];
        return (float) total;
    }

    /** max of x[off+i] for i &lt; n; -∞ when n is 0. */
    public static float max(float[] x, int off, int n) {
        FloatVector acc = FloatVector.broadcast(SPECIES, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            acc = acc.max(FloatVector.fromArray(SPECIES, x, off + i));
        }
        float max = acc.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, x[off + i]);
        return max;
    }

    /** Σ exp(x[off+i] - shift) for i &lt; n, block totals in double: the denominator of a (log-)softmax. */
    static double sumExp(float[] x, int off, int n, float shift) {
        FloatVector vShift = FloatVector.broadcast(SPECIES, shift);
        double total = 0;
        int i = 0;
        int bound = SPECIES.loopBound(n);
        while (i < bound) {
            int blockEnd = Math.min(bound, i + SUM_BLOCK);
            FloatVector acc = FloatVector.zero(SPECIES);
            for (; i < blockEnd; i += SPECIES.length()) {
                acc = acc.add(exp(FloatVector.fromArray(SPECIES, x, off + i).sub(vShift)));
            }
            total += sumLanes(acc);
        }
        for (; i < n; i++) total += Math.exp(x[off + i] - shift);
        return total;
    }

    // ---- splitting row-wise work over Parallel ----

    /** Below this many elements a kernel stays on the calling thread: handing work over costs more than it saves. */
    private static final long PARALLEL_MIN_ELEMENTS = 1 << 15;
    /** Smallest share of work worth a task of its own. */
    private static final long CHUNK_MIN_ELEMENTS = 1 << 13;

    /** Work on the contiguous rows [from, to); {@code chunk} numbers the range, for per-chunk partial results. */
    @FunctionalInterface
    interface RowRange {
        void run(int chunk, int from, int to);
    }

    /**
     * How many contiguous row ranges {@code rows × cols} elements are worth splitting into: 1 when the work is
     * small, the pool has one thread, or the caller already is a kernel thread.
     */
    static int chunkCount(int rows, long cols) {
        long elements = rows * cols;
        if (elements < PARALLEL_MIN_ELEMENTS || Parallel.threads() == 1 || Parallel.insideWorker()) return 1;
        // A few chunks per thread, so dynamic scheduling evens out uneven rows (ignored targets, say).
        long chunks = Math.min(4L * Parallel.threads(), elements / CHUNK_MIN_ELEMENTS);
        return (int) Math.max(1, Math.min(rows, chunks));
    }

    /** Runs body over {@code chunks} near-equal ranges covering rows [0, rows); in parallel when chunks &gt; 1. */
    static void forChunks(int rows, int chunks, RowRange body) {
        if (chunks <= 1) {
            body.run(0, 0, rows);
            return;
        }
        Parallel.parallelFor(0, chunks, c ->
                body.run(c, (int) ((long) rows * c / chunks), (int) ((long) rows * (c + 1) / chunks)));
    }

    /** {@link #forChunks} with as many chunks as {@code rows × cols} elements are worth. */
    static void forRows(int rows, long cols, RowRange body) {
        forChunks(rows, chunkCount(rows, cols), body);
    }

    // ---- argument checks shared by the kernels ----

    static void checkShape(int rows, int cols) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative shape [" + rows + ", " + cols + "]");
    }

    static void checkLength(String name, float[] a, long needed) {
        if (a.length < needed) {
            throw new IllegalArgumentException(name + " has " + a.length + " elements, needs at least " + needed);
        }
    }

    /**
     * The sum of a vector's lanes, added in lane order. {@code reduceLanes(ADD)} may add them in a different
     * order in compiled and in interpreted code, so the same row could sum to values an ulp apart depending on
     * when it runs; a fixed order keeps every forward pass bit-reproducible.
     */
    public static float sumLanes(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    /**
     * e^x per lane, from arithmetic alone (Cody-Waite reduction and the Cephes expf polynomial, within 2 ulp):
     * unlike {@code lanewise(EXP)}, whose JIT-compiled and fallback versions differ in the last bit, it gives the
     * same bits in every JIT tier, so a forward pass computes the same numbers whenever it runs. exp(-inf) is
     * exactly 0 (masked attention scores rely on it), results below the normal range flush to 0, NaN stays NaN.
     */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(-87.33654f).min(88.72283f);
        // n = round(x / ln 2) by the 1.5·2^23 trick: adding it leaves n in the low mantissa bits.
        FloatVector t = xc.mul(1.44269504088896341f).add(12582912f);
        FloatVector n = t.sub(12582912f);
        FloatVector r = n.mul(-0.693359375f).add(xc).add(n.mul(2.12194440e-4f));
        FloatVector p = r.mul(1.9875691500e-4f).add(1.3981999507e-3f);
        p = p.mul(r).add(8.3334519073e-3f);
        p = p.mul(r).add(4.1665795894e-2f);
        p = p.mul(r).add(1.6666665459e-1f);
        p = p.mul(r).add(5.0000001201e-1f);
        FloatVector y = p.mul(r).mul(r).add(r).add(1f);
        // 2^n from its bits; n reaches 128 just below the overflow threshold, one past the largest exponent, so
        // that case scales by 2^127 and then by 2.
        IntVector ni = t.reinterpretAsInts().sub(0x4B400000);
        IntVector bits = ni.min(127).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector result = y.mul(bits.reinterpretAsFloats());
        result = result.blend(result.mul(2f), n.compare(VectorOperators.GT, 127f));
        result = result.blend(0f, x.compare(VectorOperators.LT, -87.33654f));
        result = result.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, 88.72283f));
        return result.blend(x, x.test(VectorOperators.IS_NAN));
    }

    /**
     * c[ci + r] += A row · B row r for r &lt; 4 (rows of B ld apart), for SkinnyGemm and SmallMGemm: four
     * independent vector accumulators, so the loop is bound by loads, not by the latency of one FMA chain. Each is
     * summed exactly as {@link #dot} sums (lanes in order, then the scalar tail), so a column's bits do not depend
     * on whether it fell into a group of four.
     */
    static void dot4(float[] a, int ai, float[] b, int b0, int ld, int k, float[] c, int ci) {
        int b1 = b0 + ld, b2 = b1 + ld, b3 = b2 + ld;
        FloatVector s0 = FloatVector.zero(SPECIES), s1 = s0, s2 = s0, s3 = s0;
        int p = 0;
        for (int bound = SPECIES.loopBound(k); p < bound; p += SPECIES.length()) {
            FloatVector x = FloatVector.fromArray(SPECIES, a, ai + p);
            s0 = x.fma(FloatVector.fromArray(SPECIES, b, b0 + p), s0);
            s1 = x.fma(FloatVector.fromArray(SPECIES, b, b1 + p), s1);
            s2 = x.fma(FloatVector.fromArray(SPECIES, b, b2 + p), s2);
            s3 = x.fma(FloatVector.fromArray(SPECIES, b, b3 + p), s3);
        }
        // Lanes summed in a fixed order: reduceLanes' order differs between JIT tiers, and a resumed run must
        // compute the same bits as an uninterrupted one.
        float r0 = sumLanes(s0), r1 = sumLanes(s1);
        float r2 = sumLanes(s2), r3 = sumLanes(s3);
        for (; p < k; p++) {
            float x = a[ai + p];
            r0 += x * b[b0 + p];
            r1 += x * b[b1 + p];
            r2 += x * b[b2 + p];
            r3 += x * b[b3 + p];
        }
        c[ci] += r0;
        c[ci + 1] += r1;
        c[ci + 2] += r2;
        c[ci + 3] += r3;
    }
}
