package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Inverted dropout whose mask is a pure function of (seed, index): element i is kept when a SplitMix64 hash
 * of the two, read as a uniform number u in [0, 1), has u &gt;= p. The backward recomputes the same mask from
 * the same seed, so no mask is stored between forward and backward, and a run is reproducible from its seed
 * whatever the thread count.
 */
public final class Dropout {
    private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED;
    /** As many float lanes as LONGS has, so a mask computed on the 64-bit hashes applies lane for lane. */
    private static final VectorSpecies<Float> FLOATS =
            VectorSpecies.of(float.class, VectorShape.forBitSize(LONGS.vectorBitSize() / 2));
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private Dropout() {}

    /** y[i] = keep(seed, i, p) ? x[i] / (1 - p) : 0 for i &lt; n; y may be x. p = 0 copies x. */
    public static void forward(float[] x, float[] y, int n, float p, long seed) {
        check(n, p, x, y);
        if (p == 0f) {
            if (x != y) System.arraycopy(x, 0, y, 0, n);
            return;
        }
        float scale = 1f / (1f - p);
        long key = mix(seed);
        long threshold = threshold(p);
        FloatVector zero = FloatVector.zero(FLOATS);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + LONGS.loopBound(to - from); i < bound; i += LONGS.length()) {
                VectorMask<Float> keep = keepMask(key, i, threshold);
                zero.blend(FloatVector.fromArray(FLOATS, x, i).mul(scale), keep).intoArray(y, i);
            }
            for (; i < to; i++) y[i] = hash24(key, i) >= threshold ? x[i] * scale : 0f;
        });
    }

    /** dx[i] += keep(seed, i, p) ? dy[i] / (1 - p) : 0, with the seed and p of the forward. */
    public static void backward(float[] dy, float[] dx, int n, float p, long seed) {
        check(n, p, dy, dx);
        if (p == 0f) {
            VectorMath.axpy(1f, dy, 0, dx, 0, n);
            return;
        }
        float scale = 1f / (1f - p);
        long key = mix(seed);
        long threshold = threshold(p);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + LONGS.loopBound(to - from); i < bound; i += LONGS.length()) {
                VectorMask<Float> keep = keepMask(key, i, threshold);
                FloatVector.fromArray(FLOATS, dx, i).add(FloatVector.fromArray(FLOATS, dy, i).mul(scale), keep)
                        .intoArray(dx, i);
            }
            for (; i < to; i++) if (hash24(key, i) >= threshold) dx[i] += dy[i] * scale;
        });
    }

    /** Whether element index survives dropout with probability p under seed: the mask forward and backward use. */
    public static boolean keep(long seed, int index, float p) {
        return hash24(mix(seed), index) >= threshold(p);
    }

    /**
     * u = hash24 · 2⁻²⁴ and u &gt;= p is hash24 &gt;= ceil(p · 2²⁴), exactly (p · 2²⁴ is exact in double):
     * the comparison stays in integers, which the vector loop needs.
     */
    private static long threshold(float p) {
        return (long) Math.ceil(p * 0x1p24);
    }

    /**
     * 24 uniform bits for element index, with key = mix(seed): mixing the seed before the index is added
     * keeps nearby seeds (step 1, step 2) from giving shifted copies of one stream.
     */
    private static long hash24(long key, int index) {
        return mix(key + (index + 1L) * GOLDEN_GAMMA) >>> 40;
    }

    /** hash24 &gt;= threshold for the LONGS.length() elements from index on. */
    private static VectorMask<Float> keepMask(long key, int index, long threshold) {
        LongVector z = LongVector.zero(LONGS).addIndex(1).mul(GOLDEN_GAMMA).add(key + (index + 1L) * GOLDEN_GAMMA);
        return mix(z).lanewise(VectorOperators.LSHR, 40).compare(VectorOperators.GE, threshold).cast(FLOATS);
    }

    /** The SplitMix64 finaliser (Steele, Lea, Flood 2014): every input bit affects every output bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static LongVector mix(LongVector z) {
        z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30)).mul(0xBF58476D1CE4E5B9L);
        z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27)).mul(0x94D049BB133111EBL);
        return z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
    }

    private static void check(int n, float p, float[] a, float[] b) {
        if (!(p >= 0f && p < 1f)) throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        if (n < 0) throw new IllegalArgumentException("negative length " + n);
        VectorMath.checkLength("input", a, n);
        VectorMath.checkLength("output", b, n);
    }
}
