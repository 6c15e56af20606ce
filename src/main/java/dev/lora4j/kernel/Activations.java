package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Elementwise activations of the supported architectures, forward and backward: exact GELU (BERT), the tanh
 * GELU approximation (GPT-2's gelu_new) and SiLU (Llama's MLP). Forwards may write in place (y == x);
 * backwards add into dx.
 *
 * <p>Each activation is written once, on vectors; the last partial vector of an array goes through the same
 * code under a lane mask instead of a separate scalar loop, so main loop and tail cannot drift apart.
 */
public final class Activations {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private static final float INV_SQRT2 = (float) (1 / Math.sqrt(2));
    private static final float INV_SQRT_2PI = (float) (1 / Math.sqrt(2 * Math.PI));
    /** 2·sqrt(2/π): gelu_new is 0.5·x·(1 + tanh(u)) = x·sigmoid(2u) with u = sqrt(2/π)·(x + 0.044715·x³). */
    private static final float TANH_K = (float) (2 * Math.sqrt(2 / Math.PI));
    private static final float TANH_C = 0.044715f;

    private Activations() {}

    // ---- exact GELU: 0.5·x·(1 + erf(x/√2)) ----

    /** y = gelu(x) with the exact erf form (torch.nn.functional.gelu, approximate='none'). */
    public static void gelu(float[] x, float[] y, int n) {
        check(n, x, y);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + SPECIES.loopBound(to - from); i < bound; i += SPECIES.length()) {
                gelu(FloatVector.fromArray(SPECIES, x, i)).intoArray(y, i);
            }
            if (i < to) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                gelu(FloatVector.fromArray(SPECIES, x, i, m)).intoArray(y, i, m);
            }
        });
    }

    /** dx += dy · gelu'(x). */
    public static void geluBackward(float[] x, float[] dy, float[] dx, int n) {
        check(n, x, dy, dx);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + SPECIES.loopBound(to - from); i < bound; i += SPECIES.length()) {
                FloatVector d = geluGrad(FloatVector.fromArray(SPECIES, x, i));
                d.fma(FloatVector.fromArray(SPECIES, dy, i), FloatVector.fromArray(SPECIES, dx, i)).intoArray(dx, i);
            }
            if (i < to) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector d = geluGrad(FloatVector.fromArray(SPECIES, x, i, m));
                d.fma(FloatVector.fromArray(SPECIES, dy, i, m), FloatVector.fromArray(SPECIES, dx, i, m)).intoArray(dx, i, m);
            }
        });
    }

    /** y = erf(x) for the first n elements in float vectors, as gelu computes it: absolute error below 4e-7. */
    public static void erf(float[] x, float[] y, int n) {
        check(n, x, y);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        for (int i = 0; i < n; i += SPECIES.length()) {
            VectorMask<Float> m = SPECIES.indexInRange(i, n);
            one.sub(erfc(FloatVector.fromArray(SPECIES, x, i, m))).intoArray(y, i, m);
        }
    }

    /** erf(x), absolute error below 2e-7. */
    public static float erf(float x) {
        return (float) (1 - erfc((double) x));
    }

    /** erfc(x) = 1 - erf(x), relative error below 2e-7 wherever the result is a normal float, tails included. */
    public static float erfc(float x) {
        return (float) erfc((double) x);
    }

    private static double erfc(double x) {
        double z = Math.abs(x);
        double t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(erfcPolynomial(t) - z * z);
        return x >= 0 ? r : 2 - r;
    }

    private static FloatVector gelu(FloatVector x) {
        // 1 + erf(x/√2) = erfc(-x/√2): unlike 1 + erf, erfc keeps its relative accuracy for very negative x.
        return x.mul(0.5f).mul(erfc(x.mul(-INV_SQRT2)));
    }

    /** gelu'(x) = Φ(x) + x·φ(x): the normal CDF plus x times the normal density. */
    private static FloatVector geluGrad(FloatVector x) {
        FloatVector cdf = erfc(x.mul(-INV_SQRT2)).mul(0.5f);
        FloatVector pdf = VectorMath.exp(x.mul(x).mul(-0.5f)).mul(INV_SQRT_2PI);
        return x.fma(pdf, cdf);
    }

    /**
     * erfc by the Chebyshev fit of Numerical Recipes (erfcc, fractional error &lt; 1.2e-7 in exact arithmetic):
     * one formula for every x, so it vectorises without branches. In float, rounding the exponent -z² makes
     * the relative error grow like 6e-8·x² in the far tail, where erfc is tiny; the absolute error stays
     * below 4e-7.
     */
    private static FloatVector erfc(FloatVector x) {
        FloatVector z = x.abs();
        FloatVector t = reciprocal(z.fma(0.5f, 1f));
        FloatVector r = t.mul(VectorMath.exp(erfcPolynomial(t).sub(z.mul(z))));
        return r.blend(r.neg().add(2f), x.lt(0f));
    }

    /** The Numerical Recipes erfcc polynomial in t, Horner's rule, highest power first. */
    private static FloatVector erfcPolynomial(FloatVector t) {
        FloatVector p = t.fma(0.17087277f, -0.82215223f);
        p = mulAdd(p, t, 1.48851587f);
        p = mulAdd(p, t, -1.13520398f);
        p = mulAdd(p, t, 0.27886807f);
        p = mulAdd(p, t, -0.18628806f);
        p = mulAdd(p, t, 0.09678418f);
        p = mulAdd(p, t, 0.37409196f);
        p = mulAdd(p, t, 1.00002368f);
        return mulAdd(p, t, -1.26551223f);
    }

    private static FloatVector mulAdd(FloatVector p, FloatVector t, float c) {
        return p.fma(t, FloatVector.broadcast(SPECIES, c));
    }

    private static double erfcPolynomial(double t) {
        double p = t * 0.17087277 - 0.82215223;
        p = p * t + 1.48851587;
        p = p * t - 1.13520398;
        p = p * t + 0.27886807;
        p = p * t - 0.18628806;
        p = p * t + 0.09678418;
        p = p * t + 0.37409196;
        p = p * t + 1.00002368;
        return p * t - 1.26551223;
    }

    // ---- tanh GELU (gelu_new): 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))) ----

    /** y = gelu_new(x), the tanh approximation of GPT-2. */
    public static void geluTanh(float[] x, float[] y, int n) {
        check(n, x, y);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + SPECIES.loopBound(to - from); i < bound; i += SPECIES.length()) {
                FloatVector v = FloatVector.fromArray(SPECIES, x, i);
                v.mul(geluTanhGate(v)).intoArray(y, i);
            }
            if (i < to) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector v = FloatVector.fromArray(SPECIES, x, i, m);
                v.mul(geluTanhGate(v)).intoArray(y, i, m);
            }
        });
    }

    /** dx += dy · gelu_new'(x). */
    public static void geluTanhBackward(float[] x, float[] dy, float[] dx, int n) {
        check(n, x, dy, dx);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + SPECIES.loopBound(to - from); i < bound; i += SPECIES.length()) {
                FloatVector d = geluTanhGrad(FloatVector.fromArray(SPECIES, x, i));
                d.fma(FloatVector.fromArray(SPECIES, dy, i), FloatVector.fromArray(SPECIES, dx, i)).intoArray(dx, i);
            }
            if (i < to) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector d = geluTanhGrad(FloatVector.fromArray(SPECIES, x, i, m));
                d.fma(FloatVector.fromArray(SPECIES, dy, i, m), FloatVector.fromArray(SPECIES, dx, i, m)).intoArray(dx, i, m);
            }
        });
    }

    /** sigmoid(2u) = 0.5·(1 + tanh(u)): one exp, and no 1 + tanh cancellation for negative x. */
    private static FloatVector geluTanhGate(FloatVector x) {
        FloatVector twoU = x.mul(x).fma(TANH_C, 1f).mul(x).mul(TANH_K);
        return sigmoid(twoU);
    }

    /** d/dx x·s(x) with s = sigmoid(2u): s + x·s·(1 - s)·2u'. */
    private static FloatVector geluTanhGrad(FloatVector x) {
        FloatVector x2 = x.mul(x);
        FloatVector s = sigmoid(x2.fma(TANH_C, 1f).mul(x).mul(TANH_K));
        FloatVector twoUPrime = x2.fma(3 * TANH_C, 1f).mul(TANH_K);
        return x.mul(s).mul(s.neg().add(1f)).fma(twoUPrime, s);
    }

    // ---- SiLU: x·sigmoid(x) ----

    /** y = silu(x) = x·sigmoid(x). */
    public static void silu(float[] x, float[] y, int n) {
        check(n, x, y);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + SPECIES.loopBound(to - from); i < bound; i += SPECIES.length()) {
                FloatVector v = FloatVector.fromArray(SPECIES, x, i);
                v.mul(sigmoid(v)).intoArray(y, i);
            }
            if (i < to) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector v = FloatVector.fromArray(SPECIES, x, i, m);
                v.mul(sigmoid(v)).intoArray(y, i, m);
            }
        });
    }

    /** dx += dy · silu'(x), silu'(x) = s·(1 + x·(1 - s)) with s = sigmoid(x). */
    public static void siluBackward(float[] x, float[] dy, float[] dx, int n) {
        check(n, x, dy, dx);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            int i = from;
            for (int bound = from + SPECIES.loopBound(to - from); i < bound; i += SPECIES.length()) {
                FloatVector d = siluGrad(FloatVector.fromArray(SPECIES, x, i));
                d.fma(FloatVector.fromArray(SPECIES, dy, i), FloatVector.fromArray(SPECIES, dx, i)).intoArray(dx, i);
            }
            if (i < to) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector d = siluGrad(FloatVector.fromArray(SPECIES, x, i, m));
                d.fma(FloatVector.fromArray(SPECIES, dy, i, m), FloatVector.fromArray(SPECIES, dx, i, m)).intoArray(dx, i, m);
            }
        });
    }

    private static FloatVector siluGrad(FloatVector x) {
        FloatVector s = sigmoid(x);
        return x.mul(s.neg().add(1f)).add(1f).mul(s);
    }

    /**
     * y = silu(g)·u, the SwiGLU of Llama's MLP (silu(gate_proj(x)) ⊙ up_proj(x)) in one pass: no silu(g) array is
     * written, and none is kept for backward, which recomputes it from g.
     */
    public static void siluMul(float[] g, float[] u, float[] y, int n) {
        check(n, g, u, y);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            for (int i = from; i < to; i += SPECIES.length()) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector v = FloatVector.fromArray(SPECIES, g, i, m);
                v.mul(sigmoid(v)).mul(FloatVector.fromArray(SPECIES, u, i, m)).intoArray(y, i, m);
            }
        });
    }

    /** The backward of {@link #siluMul}: dg += dy·u·silu'(g) and du += dy·silu(g); either may be null (not wanted). */
    public static void siluMulBackward(float[] g, float[] u, float[] dy, float[] dg, float[] du, int n) {
        check(n, g, u, dy);
        if (dg != null) check(n, dg);
        if (du != null) check(n, du);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            for (int i = from; i < to; i += SPECIES.length()) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector gv = FloatVector.fromArray(SPECIES, g, i, m);
                FloatVector d = FloatVector.fromArray(SPECIES, dy, i, m);
                if (dg != null) {
                    FloatVector uv = FloatVector.fromArray(SPECIES, u, i, m);
                    siluGrad(gv).mul(uv).fma(d, FloatVector.fromArray(SPECIES, dg, i, m)).intoArray(dg, i, m);
                }
                if (du != null) gv.mul(sigmoid(gv)).fma(d, FloatVector.fromArray(SPECIES, du, i, m)).intoArray(du, i, m);
            }
        });
    }

    // ---- tanh (BERT's pooler) ----

    /** y = tanh(x) = 2·sigmoid(2x) − 1, saturating cleanly at ±1 for large |x|. */
    public static void tanh(float[] x, float[] y, int n) {
        check(n, x, y);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            for (int i = from; i < to; i += SPECIES.length()) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector v = FloatVector.fromArray(SPECIES, x, i, m);
                sigmoid(v.mul(2f)).mul(2f).sub(1f).intoArray(y, i, m);
            }
        });
    }

    /** dx += dy·(1 − y²), from the forward's output y. */
    public static void tanhBackward(float[] y, float[] dy, float[] dx, int n) {
        check(n, y, dy, dx);
        VectorMath.forRows(n, 1, (chunk, from, to) -> {
            for (int i = from; i < to; i += SPECIES.length()) {
                VectorMask<Float> m = SPECIES.indexInRange(i, to);
                FloatVector t = FloatVector.fromArray(SPECIES, y, i, m);
                FloatVector g = t.mul(t).neg().add(1f);
                g.fma(FloatVector.fromArray(SPECIES, dy, i, m), FloatVector.fromArray(SPECIES, dx, i, m)).intoArray(dx, i, m);
            }
        });
    }

    /** 1 / (1 + e^-x); saturates cleanly to 0 (e^-x = ∞) and 1 (e^-x = 0) without NaN. */
    private static FloatVector sigmoid(FloatVector x) {
        return reciprocal(VectorMath.exp(x.neg()).add(1f));
    }

    private static FloatVector reciprocal(FloatVector x) {
        return FloatVector.broadcast(SPECIES, 1f).div(x);
    }

    private static void check(int n, float[]... arrays) {
        if (n < 0) throw new IllegalArgumentException("negative length " + n);
        for (float[] a : arrays) VectorMath.checkLength("array", a, n);
    }
}
