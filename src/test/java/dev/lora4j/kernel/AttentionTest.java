package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Attention against a plain double-precision reference that materialises the full score matrix, and the
 * backward pass against central finite differences of that reference and against an analytic reference backward.
 */
class AttentionTest {

    // ------------------------------------------------------------------------------------ reference (double)

    /** Shape + masks of one case. */
    record Case(int batch, int seq, int heads, int kvHeads, int headDim, boolean causal, boolean[] keyValid) {
        int group() {
            return heads / kvHeads;
        }

        int qLen() {
            return batch * seq * heads * headDim;
        }

        int kvLen() {
            return batch * seq * kvHeads * headDim;
        }

        boolean sees(int b, int i, int j) {
            return (!causal || j <= i) && (keyValid == null || keyValid[b * seq + j]);
        }

        int qIdx(int b, int t, int h, int d) {
            return ((b * seq + t) * heads + h) * headDim + d;
        }

        int kvIdx(int b, int t, int h, int d) {
            return ((b * seq + t) * kvHeads + h) * headDim + d;
        }

        double scale() {
            return 1.0 / Math.sqrt(headDim);
        }

        @Override
        public String toString() {
            return "batch=" + batch + " seq=" + seq + " heads=" + heads + "/" + kvHeads + " headDim=" + headDim
                    + " causal=" + causal + " mask=" + (keyValid == null ? "none" : maskString());
        }

        private String maskString() {
            StringBuilder sb = new StringBuilder();
            for (int b = 0; b < batch; b++) {
                if (b > 0) sb.append('|');
                for (int t = 0; t < seq; t++) sb.append(keyValid[b * seq + t] ? '1' : '0');
            }
            return sb.toString();
        }
    }

    /** Probabilities P[b][h][i][j] (all zero for a row that sees nothing) and lse[b][h][i]. */
    static double[][][][] refProbs(Case c, double[] q, double[] k, double scale, double[][][] lseOut) {
        double[][][][] p = new double[c.batch][c.heads][c.seq][c.seq];
        for (int b = 0; b < c.batch; b++) {
            for (int h = 0; h < c.heads; h++) {
                int kvh = h / c.group();
                for (int i = 0; i < c.seq; i++) {
                    double[] s = new double[c.seq];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < c.seq; j++) {
                        if (!c.sees(b, i, j)) continue;
                        double dot = 0;
                        for (int d = 0; d < c.headDim; d++) dot += q[c.qIdx(b, i, h, d)] * k[c.kvIdx(b, j, kvh, d)];
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                    if (max == Double.NEGATIVE_INFINITY) {
                        if (lseOut != null) lseOut[b][h][i] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double sum = 0;
                    for (int j = 0; j < c.seq; j++) if (c.sees(b, i, j)) sum += Math.exp(s[j] - max);
                    for (int j = 0; j < c.seq; j++) if (c.sees(b, i, j)) p[b][h][i][j] = Math.exp(s[j] - max) / sum;
                    if (lseOut != null) lseOut[b][h][i] = max + Math.log(sum);
                }
            }
        }
        return p;
    }

    /** Reference output [batch*seq, heads*headDim]. */
    static double[] refForward(Case c, double[] q, double[] k, double[] v, double scale, double[][][] lseOut) {
        double[][][][] p = refProbs(c, q, k, scale, lseOut);
        double[] out = new double[c.qLen()];
        for (int b = 0; b < c.batch; b++)
            for (int h = 0; h < c.heads; h++) {
                int kvh = h / c.group();
                for (int i = 0; i < c.seq; i++)
                    for (int j = 0; j < c.seq; j++) {
                        double pij = p[b][h][i][j];
                        if (pij == 0) continue;
                        for (int d = 0; d < c.headDim; d++) out[c.qIdx(b, i, h, d)] += pij * v[c.kvIdx(b, j, kvh, d)];
                    }
            }
        return out;
    }

    /** Analytic reference backward; returns {dq, dk, dv}. */
    static double[][] refBackward(Case c, double[] q, double[] k, double[] v, double[] dOut, double scale) {
        double[][][][] p = refProbs(c, q, k, scale, null);
        double[] out = refForward(c, q, k, v, scale, null);
        double[] dq = new double[c.qLen()], dk = new double[c.kvLen()], dv = new double[c.kvLen()];
        for (int b = 0; b < c.batch; b++)
            for (int h = 0; h < c.heads; h++) {
                int kvh = h / c.group();
                for (int i = 0; i < c.seq; i++) {
                    double di = 0;
                    for (int d = 0; d < c.headDim; d++) di += dOut[c.qIdx(b, i, h, d)] * out[c.qIdx(b, i, h, d)];
                    for (int j = 0; j < c.seq; j++) {
                        double pij = p[b][h][i][j];
                        if (pij == 0) continue;
                        double dpij = 0;
                        for (int d = 0; d < c.headDim; d++) {
                            dv[c.kvIdx(b, j, kvh, d)] += pij * dOut[c.qIdx(b, i, h, d)];
                            dpij += dOut[c.qIdx(b, i, h, d)] * v[c.kvIdx(b, j, kvh, d)];
                        }
                        double ds = pij * (dpij - di) * scale;
                        for (int d = 0; d < c.headDim; d++) {
                            dq[c.qIdx(b, i, h, d)] += ds * k[c.kvIdx(b, j, kvh, d)];
                            dk[c.kvIdx(b, j, kvh, d)] += ds * q[c.qIdx(b, i, h, d)];
                        }
                    }
                }
            }
        return new double[][] {dq, dk, dv};
    }

    // ------------------------------------------------------------------------------------------- helpers

    static float[] randn(SplittableRandom rnd, int n, double sigma) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller
            double u = rnd.nextDouble(1e-12, 1.0), w = rnd.nextDouble();
            a[i] = (float) (sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w));
        }
        return a;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    /**
     * Masks that cover the interesting cases, chosen per batch element by {@code (b + variant) % 5}:
     * all valid, right padding, left padding (with causal: first rows see nothing), random holes, all padding.
     */
    static boolean[] mask(int batch, int seq, int variant, SplittableRandom rnd) {
        boolean[] m = new boolean[batch * seq];
        for (int b = 0; b < batch; b++) {
            int kind = (b + variant) % 5;
            for (int t = 0; t < seq; t++) {
                boolean valid = switch (kind) {
                    case 0 -> true;
                    case 1 -> t < Math.max(1, (seq * 3) / 5);         // right padding
                    case 2 -> t >= seq / 3 + 1 || seq == 1;             // left padding
                    case 3 -> rnd.nextDouble() < 0.7;                  // holes
                    default -> false;                                  // fully padded sequence
                };
                m[b * seq + t] = valid;
            }
        }
        return m;
    }

    static void assertClose(String what, double[] expected, float[] actual, double rtol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double maxAbs = 0;
        for (double e : expected) maxAbs = Math.max(maxAbs, Math.abs(e));
        double atol = rtol * Math.max(maxAbs, 1e-3);
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            if (!Double.isFinite(a) || Math.abs(a - e) > atol + rtol * Math.abs(e)) {
                fail(what + " differs at " + i + ": expected " + e + ", got " + a + " (atol " + atol + ")");
            }
        }
    }

    static void assertAllFinite(String what, float[] a) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) fail(what + "[" + i + "] = " + a[i]);
        }
    }

    record Result(float[] out, float[] lse) {}

    static Result runForward(Case c, float[] q, float[] k, float[] v, float scale) {
        float[] out = new float[c.qLen()];
        Arrays.fill(out, Float.NaN);                       // must be overwritten
        float[] lse = new float[c.batch * c.heads * c.seq];
        Arrays.fill(lse, Float.NaN);
        Attention.forward(q, k, v, out, lse, c.batch, c.seq, c.heads, c.kvHeads, c.headDim, c.causal, c.keyValid, scale);
        return new Result(out, lse);
    }

    static void checkForward(Case c, float[] q, float[] k, float[] v, float scale) {
        Result r = runForward(c, q, k, v, scale);
        double[][][] refLse = new double[c.batch][c.heads][c.seq];
        double[] refOut = refForward(c, toDouble(q), toDouble(k), toDouble(v), scale, refLse);
        assertClose("out " + c, refOut, r.out, 1e-4);
        for (int b = 0; b < c.batch; b++)
            for (int h = 0; h < c.heads; h++)
                for (int i = 0; i < c.seq; i++) {
                    double e = refLse[b][h][i];
                    float a = r.lse[(b * c.heads + h) * c.seq + i];
                    if (e == Double.NEGATIVE_INFINITY) {
                        assertEquals(Float.NEGATIVE_INFINITY, a, "lse of a row that sees nothing, b=" + b + " h=" + h + " i=" + i + " " + c);
                        for (int d = 0; d < c.headDim; d++)
                            assertEquals(0f, r.out[c.qIdx(b, i, h, d)], "out of a row that sees nothing " + c);
                    } else if (!(Math.abs(a - e) <= 1e-4 * (1 + Math.abs(e)))) {
                        fail("lse differs at b=" + b + " h=" + h + " i=" + i + ": expected " + e + ", got " + a + " " + c);
                    }
                }
    }

    // ----------------------------------------------------------------------------------------------- forward

    @Test
    void forwardMatchesReferenceOnAwkwardShapes() {
        SplittableRandom rnd = new SplittableRandom(42);
        int[] seqs = {1, 7, 33, 129};
        int[][] headPairs = {{1, 1}, {4, 4}, {6, 2}, {9, 3}};
        int[] headDims = {8, 64};
        int variant = 0;
        for (int seq : seqs)
            for (int[] hp : headPairs)
                for (int headDim : headDims)
                    for (boolean causal : new boolean[] {false, true})
                        for (boolean masked : new boolean[] {false, true}) {
                            variant++;
                            int batch = 1 + variant % 3;
                            boolean[] keyValid = masked ? mask(batch, seq, variant, rnd) : null;
                            Case c = new Case(batch, seq, hp[0], hp[1], headDim, causal, keyValid);
                            float[] q = randn(rnd, c.qLen(), 1.0);
                            float[] k = randn(rnd, c.kvLen(), 1.0);
                            float[] v = randn(rnd, c.kvLen(), 1.0);
                            checkForward(c, q, k, v, (float) c.scale());
                        }
    }

    @Test
    void forwardIsStableForLargeScores() {
        SplittableRandom rnd = new SplittableRandom(7);
        // Scores of order ±1000: a naive exp overflows; the max shift must keep it finite and exact.
        Case c = new Case(2, 70, 4, 2, 16, true, mask(2, 70, 3, rnd));
        float[] q = randn(rnd, c.qLen(), 8.0);
        float[] k = randn(rnd, c.kvLen(), 8.0);
        float[] v = randn(rnd, c.kvLen(), 1.0);
        checkForward(c, q, k, v, 1.0f);
    }

    @Test
    void forwardWithoutMaskEqualsForwardWithAllValidMask() {
        SplittableRandom rnd = new SplittableRandom(3);
        Case c = new Case(2, 65, 6, 3, 8, true, null);
        float[] q = randn(rnd, c.qLen(), 1), k = randn(rnd, c.kvLen(), 1), v = randn(rnd, c.kvLen(), 1);
        Result a = runForward(c, q, k, v, 0.3f);
        boolean[] all = new boolean[c.batch * c.seq];
        Arrays.fill(all, true);
        Result b = runForward(new Case(2, 65, 6, 3, 8, true, all), q, k, v, 0.3f);
        assertTrue(Arrays.equals(a.out, b.out), "out");
        assertTrue(Arrays.equals(a.lse, b.lse), "lse");
    }

    // ---------------------------------------------------------------------------------------------- backward

    record Grads(float[] dq, float[] dk, float[] dv) {}

    static Grads runBackward(Case c, float[] q, float[] k, float[] v, float[] dOut, float scale, Grads init) {
        Result f = runForward(c, q, k, v, scale);
        float[] dq = init == null ? new float[c.qLen()] : init.dq.clone();
        float[] dk = init == null ? new float[c.kvLen()] : init.dk.clone();
        float[] dv = init == null ? new float[c.kvLen()] : init.dv.clone();
        Attention.backward(q, k, v, f.out, f.lse, dOut, dq, dk, dv,
                c.batch, c.seq, c.heads, c.kvHeads, c.headDim, c.causal, c.keyValid, scale);
        return new Grads(dq, dk, dv);
    }

    /** Central finite differences of L = Σ out·R of the double reference, with respect to each input. */
    static double[] finiteDiff(Case c, double[] q, double[] k, double[] v, double[] r, double scale, double[] x) {
        double eps = 1e-5;
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            x[i] = saved + eps;
            double lp = dotD(refForward(c, q, k, v, scale, null), r);
            x[i] = saved - eps;
            double lm = dotD(refForward(c, q, k, v, scale, null), r);
            x[i] = saved;
            g[i] = (lp - lm) / (2 * eps);
        }
        return g;
    }

    static double dotD(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        SplittableRandom rnd = new SplittableRandom(11);
        Case[] cases = {
            new Case(2, 5, 4, 2, 3, false, mask(2, 5, 1, rnd)),
            new Case(2, 6, 4, 2, 3, true, mask(2, 6, 2, rnd)),     // left padding: first causal rows see nothing
            new Case(1, 7, 3, 1, 4, true, null),
            new Case(3, 4, 2, 2, 5, false, mask(3, 4, 3, rnd)),    // includes a fully padded sequence
            new Case(1, 1, 2, 1, 3, true, null),
        };
        for (Case c : cases) {
            float[] q = randn(rnd, c.qLen(), 1), k = randn(rnd, c.kvLen(), 1), v = randn(rnd, c.kvLen(), 1);
            float[] r = randn(rnd, c.qLen(), 1);
            float scale = (float) c.scale();
            Grads g = runBackward(c, q, k, v, r, scale, null);
            double[] qd = toDouble(q), kd = toDouble(k), vd = toDouble(v), rd = toDouble(r);
            assertClose("dq vs finite differences " + c, finiteDiff(c, qd, kd, vd, rd, scale, qd), g.dq, 1e-4);
            assertClose("dk vs finite differences " + c, finiteDiff(c, qd, kd, vd, rd, scale, kd), g.dk, 1e-4);
            assertClose("dv vs finite differences " + c, finiteDiff(c, qd, kd, vd, rd, scale, vd), g.dv, 1e-4);
        }
    }

    @Test
    void backwardMatchesAnalyticReferenceOnLargerShapes() {
        SplittableRandom rnd = new SplittableRandom(5);
        Case[] cases = {
            new Case(2, 129, 6, 2, 64, true, null),
            new Case(3, 33, 9, 3, 8, false, mask(3, 33, 0, rnd)),
            new Case(2, 70, 4, 4, 64, true, mask(2, 70, 1, rnd)),
            new Case(1, 129, 9, 3, 8, false, mask(1, 129, 3, rnd)),
            new Case(3, 7, 1, 1, 64, true, mask(3, 7, 2, rnd)),
        };
        for (Case c : cases) {
            float[] q = randn(rnd, c.qLen(), 1), k = randn(rnd, c.kvLen(), 1), v = randn(rnd, c.kvLen(), 1);
            float[] r = randn(rnd, c.qLen(), 1);
            float scale = (float) c.scale();
            Grads g = runBackward(c, q, k, v, r, scale, null);
            double[][] ref = refBackward(c, toDouble(q), toDouble(k), toDouble(v), toDouble(r), scale);
            assertClose("dq " + c, ref[0], g.dq, 1e-4);
            assertClose("dk " + c, ref[1], g.dk, 1e-4);
            assertClose("dv " + c, ref[2], g.dv, 1e-4);
        }
    }

    @Test
    void backwardAddsIntoExistingGradients() {
        SplittableRandom rnd = new SplittableRandom(9);
        Case c = new Case(2, 67, 6, 2, 16, true, mask(2, 67, 2, rnd));
        float[] q = randn(rnd, c.qLen(), 1), k = randn(rnd, c.kvLen(), 1), v = randn(rnd, c.kvLen(), 1);
        float[] r = randn(rnd, c.qLen(), 1);
        float scale = (float) c.scale();
        Grads init = new Grads(randn(rnd, c.qLen(), 1), randn(rnd, c.kvLen(), 1), randn(rnd, c.kvLen(), 1));
        Grads g = runBackward(c, q, k, v, r, scale, init);
        double[][] ref = refBackward(c, toDouble(q), toDouble(k), toDouble(v), toDouble(r), scale);
        double[][] expected = new double[3][];
        float[][] inits = {init.dq, init.dk, init.dv};
        for (int t = 0; t < 3; t++) {
            expected[t] = ref[t].clone();
            for (int i = 0; i < expected[t].length; i++) expected[t][i] += inits[t][i];
        }
        assertClose("dq accumulated", expected[0], g.dq, 1e-4);
        assertClose("dk accumulated", expected[1], g.dk, 1e-4);
        assertClose("dv accumulated", expected[2], g.dv, 1e-4);
    }

    @Test
    void fullyMaskedRowsGiveZerosAndNoNaN() {
        SplittableRandom rnd = new SplittableRandom(13);
        int batch = 3, seq = 70, heads = 4, kvHeads = 2, headDim = 8;
        boolean[] keyValid = new boolean[batch * seq];
        for (int t = 0; t < seq; t++) {
            keyValid[t] = true;                     // b=0: all valid
            keyValid[seq + t] = false;              // b=1: fully padded
            keyValid[2 * seq + t] = t >= 40;        // b=2: left padded, causal rows 0..39 see nothing
        }
        Case c = new Case(batch, seq, heads, kvHeads, headDim, true, keyValid);
        float[] q = randn(rnd, c.qLen(), 1), k = randn(rnd, c.kvLen(), 1), v = randn(rnd, c.kvLen(), 1);
        float[] r = randn(rnd, c.qLen(), 1);
        Result f = runForward(c, q, k, v, 0.35f);
        Grads g = runBackward(c, q, k, v, r, 0.35f, null);
        assertAllFinite("out", f.out);
        assertAllFinite("dq", g.dq);
        assertAllFinite("dk", g.dk);
        assertAllFinite("dv", g.dv);
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < seq; i++) {
                boolean seesNothing2 = i < 40;
                assertEquals(Float.NEGATIVE_INFINITY, f.lse[(heads + h) * seq + i], "lse b=1");
                float lse2 = f.lse[(2 * heads + h) * seq + i];
                if (seesNothing2) assertEquals(Float.NEGATIVE_INFINITY, lse2, "lse b=2 i=" + i);
                else assertTrue(Float.isFinite(lse2), "lse b=2 i=" + i);
                assertTrue(Float.isFinite(f.lse[h * seq + i]), "lse b=0");
                for (int d = 0; d < headDim; d++) {
                    assertEquals(0f, f.out[c.qIdx(1, i, h, d)], "out b=1");
                    assertEquals(0f, g.dq[c.qIdx(1, i, h, d)], "dq b=1");
                    if (seesNothing2) {
                        assertEquals(0f, f.out[c.qIdx(2, i, h, d)], "out b=2 i=" + i);
                        assertEquals(0f, g.dq[c.qIdx(2, i, h, d)], "dq b=2 i=" + i);
                    }
                }
            }
        // Padding keys get no gradient; valid keys of b=2 do.
        for (int t = 0; t < seq; t++)
            for (int kh = 0; kh < kvHeads; kh++)
                for (int d = 0; d < headDim; d++) {
                    assertEquals(0f, g.dk[c.kvIdx(1, t, kh, d)], "dk b=1");
                    assertEquals(0f, g.dv[c.kvIdx(1, t, kh, d)], "dv b=1");
                    if (t < 40) {
                        assertEquals(0f, g.dk[c.kvIdx(2, t, kh, d)], "dk padding key b=2");
                        assertEquals(0f, g.dv[c.kvIdx(2, t, kh, d)], "dv padding key b=2");
                    }
                }
        double nonZero = 0;
        for (int t = 40; t < seq; t++) nonZero += Math.abs(g.dv[c.kvIdx(2, t, 0, 0)]);
        assertTrue(nonZero > 0, "valid keys of a left-padded sequence must get gradient");
        // And the whole thing still agrees with the reference.
        double[][] ref = refBackward(c, toDouble(q), toDouble(k), toDouble(v), toDouble(r), 0.35f);
        assertClose("dq", ref[0], g.dq, 1e-4);
        assertClose("dk", ref[1], g.dk, 1e-4);
        assertClose("dv", ref[2], g.dv, 1e-4);
    }

    // ------------------------------------------------------------------------------------------ validation

    @Test
    void rejectsBadShapesAndLengths() {
        int batch = 2, seq = 3, heads = 4, kvHeads = 2, hd = 5;
        int qn = batch * seq * heads * hd, kvn = batch * seq * kvHeads * hd, ln = batch * heads * seq;
        float[] q = new float[qn], k = new float[kvn], v = new float[kvn], out = new float[qn], lse = new float[ln];

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                Attention.forward(q, k, v, out, lse, batch, seq, 4, 3, hd, false, null, 1f));
        assertTrue(e.getMessage().contains("kvHeads"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () ->
                Attention.forward(q, new float[kvn + 1], v, out, lse, batch, seq, heads, kvHeads, hd, false, null, 1f));
        assertTrue(e.getMessage().startsWith("k ") && e.getMessage().contains(String.valueOf(kvn))
                && e.getMessage().contains(String.valueOf(kvn + 1)), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () ->
                Attention.forward(q, k, v, out, new float[ln - 1], batch, seq, heads, kvHeads, hd, false, null, 1f));
        assertTrue(e.getMessage().startsWith("lse "), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () ->
                Attention.forward(q, k, v, out, lse, batch, seq, heads, kvHeads, hd, false, new boolean[5], 1f));
        assertTrue(e.getMessage().startsWith("keyValid "), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () ->
                Attention.backward(q, k, v, out, lse, new float[qn], new float[qn], new float[kvn], new float[qn],
                        batch, seq, heads, kvHeads, hd, false, null, 1f));
        assertTrue(e.getMessage().startsWith("dv ") && e.getMessage().contains(String.valueOf(kvn)), e.getMessage());
    }
}
