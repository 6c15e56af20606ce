package dev.lora4j.autograd;

import static dev.lora4j.autograd.GradCheck.param;
import static dev.lora4j.autograd.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.kernel.Attention;
import dev.lora4j.kernel.Rope;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * Finite-difference checks of every differentiable op in {@link Ops}: each op's output is reduced to a scalar
 * with a fixed random probe R (L = Σ op(...) ⊙ R) unless it is a loss itself, and every input's analytic
 * gradient is compared element by element with central differences of L.
 */
class OpsGradientTest {
    private Random rnd;

    @BeforeEach
    void setUp() {
        rnd = new Random(20240611);
        Tape.current().clear();
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    private float[] probe(int n) {
        return randn(rnd, n, 1.0);
    }

    // ---- the harness itself ------------------------------------------------------------------------------

    @Test
    void harnessCatchesAWrongBackward() {
        // y = 3x with a backward that forgets the factor 3: the check must fail and name the variable.
        Variable x = param(rnd, 1, 4, 3);
        float[] r = probe(12);
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> GradCheck.of("broken", () -> {
            Variable y = new Variable(Tensor.zeros(4, 3), Tape.current().recording() && x.requiresGrad());
            for (int i = 0; i < 12; i++) y.data()[i] = 3 * x.data()[i];
            if (y.requiresGrad()) {
                Tape.current().record(y, () -> {
                    for (int i = 0; i < 12; i++) x.gradForAccumulation()[i] += y.grad()[i];
                });
            }
            return Ops.dot(y, r);
        }).wrt("x", x).run());
        assertTrue(e.getMessage().contains("d/dx"), e.getMessage());
    }

    // ---- linear algebra ------------------------------------------------------------------------------------

    @Test
    void linearWithBias() {
        Variable x = param(rnd, 1, 2, 3, 4);     // rank 3: leading dims flattened into 6 rows
        Variable w = param(rnd, 0.5, 5, 4);
        Variable b = param(rnd, 0.5, 5);
        float[] r = probe(2 * 3 * 5);
        Variable y = Ops.linear(x, w, b);
        assertEquals(dev.lora4j.tensor.Shape.of(2, 3, 5), y.shape());
        Tape.current().clear();
        GradCheck.of("linear+bias", () -> Ops.dot(Ops.linear(x, w, b), r))
            .wrt("x", x).wrt("W", w).wrt("b", b).run();
    }

    @Test
    void loraLinearTwoBranchesOneThroughDropout() {
        // Sizes above SkinnyGemm's threshold except the ranks, so every LoRA product takes the skinny kernels.
        Variable x = param(rnd, 1, 20, 18);
        Variable w = param(rnd, 0.3, 17, 18);
        Variable b = param(rnd, 0.3, 17);
        Variable a1 = param(rnd, 0.3, 3, 18), b1 = param(rnd, 0.3, 17, 3);
        Variable a2 = param(rnd, 0.3, 2, 18), b2 = param(rnd, 0.3, 17, 2);
        float[] r = probe(20 * 17);
        GradCheck.of("loraLinear", () -> {
            Variable dropped = Ops.dropout(x, 0.25f, 7);
            return Ops.dot(Ops.loraLinear(x, w, b, false, java.util.List.of(
                new Ops.LoraBranch(x, a1, b1, 2f), new Ops.LoraBranch(dropped, a2, b2, 0.5f))), r);
        }).wrt("x", x).wrt("W", w).wrt("b", b).wrt("A1", a1).wrt("B1", b1).wrt("A2", a2).wrt("B2", b2).run();
    }

    @Test
    void loraLinearInOutWithFrozenWeight() {
        Variable x = param(rnd, 1, 19, 17);
        Variable w = Variable.constant(Tensor.of(randn(rnd, 17 * 21, 0.3), 17, 21));
        Variable a = param(rnd, 0.3, 4, 17), bb = param(rnd, 0.3, 21, 4);
        float[] r = probe(19 * 21);
        GradCheck.of("loraLinear inOut", () -> Ops.dot(Ops.loraLinear(x, w, null, true,
            java.util.List.of(new Ops.LoraBranch(x, a, bb, 1.5f))), r)).wrt("x", x).wrt("A", a).wrt("B", bb).run();
        assertEquals(null, w.grad());
    }

    @Test
    void loraLinearEqualsTheComposedBranch() {
        // The fused op against the same branch built from linear, linear and addScaled: outputs and every gradient.
        Variable x = param(rnd, 1, 24, 20);
        Variable w = param(rnd, 0.3, 18, 20), b = param(rnd, 0.3, 18);
        Variable a = param(rnd, 0.3, 4, 20), bb = param(rnd, 0.3, 18, 4);
        float[] r = probe(24 * 18);
        java.util.function.Supplier<float[][]> grads = () -> new float[][] {x.grad().clone(), w.grad().clone(), b.grad().clone(), a.grad().clone(), bb.grad().clone()};
        Variable fused = Ops.loraLinear(x, w, b, false, java.util.List.of(new Ops.LoraBranch(x, a, bb, 2f)));
        Tape.current().backward(Ops.dot(fused, r));
        float[][] g1 = grads.get();
        for (Variable v : new Variable[] {x, w, b, a, bb}) v.clearGrad();
        Variable composed = Ops.addScaled(Ops.linear(x, w, b), Ops.linear(Ops.linear(x, a, null), bb, null), 2f);
        Tape.current().backward(Ops.dot(composed, r));
        float[][] g2 = grads.get();
        for (int i = 0; i < fused.size(); i++) assertEquals(composed.data()[i], fused.data()[i], 1e-4, "y[" + i + "]");
        for (int k = 0; k < g1.length; k++) {
            for (int i = 0; i < g1[k].length; i++) assertEquals(g2[k][i], g1[k][i], 1e-4 * (1 + Math.abs(g2[k][i])), "grad " + k + "[" + i + "]");
        }
    }

    @Test
    void linearWithoutBias() {
        Variable x = param(rnd, 1, 3, 4);
        Variable w = param(rnd, 0.5, 6, 4);
        float[] r = probe(3 * 6);
        GradCheck.of("linear", () -> Ops.dot(Ops.linear(x, w, null), r))
            .wrt("x", x).wrt("W", w).run();
    }

    @Test
    void linearForwardMatchesDefinition() {
        // Not a gradient check, but the FD checks above are only as good as the forward they differentiate.
        Variable x = param(rnd, 1, 3, 4);
        Variable w = param(rnd, 1, 2, 4);
        Variable b = param(rnd, 1, 2);
        Variable y;
        try (var _ = Tape.noGrad()) {
            y = Ops.linear(x, w, b);
        }
        for (int i = 0; i < 3; i++) {
            for (int o = 0; o < 2; o++) {
                double acc = b.data()[o];
                for (int k = 0; k < 4; k++) acc += (double) x.data()[i * 4 + k] * w.data()[o * 4 + k];
                assertEquals(acc, y.data()[i * 2 + o], 1e-5);
            }
        }
    }

    // ---- elementwise ---------------------------------------------------------------------------------------

    @Test
    void add() {
        Variable a = param(rnd, 1, 3, 5), b = param(rnd, 1, 3, 5);
        float[] r = probe(15);
        GradCheck.of("add", () -> Ops.dot(Ops.add(a, b), r)).wrt("a", a).wrt("b", b).run();
    }

    @Test
    void addScaled() {
        Variable a = param(rnd, 1, 3, 5), b = param(rnd, 1, 3, 5);
        float[] r = probe(15);
        GradCheck.of("addScaled", () -> Ops.dot(Ops.addScaled(a, b, -0.7f), r)).wrt("a", a).wrt("b", b).run();
    }

    @Test
    void addBias() {
        Variable x = param(rnd, 1, 2, 3, 4), bias = param(rnd, 1, 4);
        float[] r = probe(24);
        GradCheck.of("addBias", () -> Ops.dot(Ops.addBias(x, bias), r)).wrt("x", x).wrt("bias", bias).run();
    }

    @Test
    void mul() {
        Variable a = param(rnd, 1, 4, 5), b = param(rnd, 1, 4, 5);
        float[] r = probe(20);
        GradCheck.of("mul", () -> Ops.dot(Ops.mul(a, b), r)).wrt("a", a).wrt("b", b).run();
    }

    @Test
    void variableUsedTwiceAccumulates() {
        // x feeds both sides of mul and a gelu as well: its gradient is the sum of three contributions.
        Variable x = param(rnd, 1, 3, 4);
        float[] r = probe(12);
        GradCheck.of("x*x + gelu(x)", () -> Ops.dot(Ops.add(Ops.mul(x, x), Ops.gelu(x)), r)).wrt("x", x).run();
    }

    @Test
    void distillationKlGradientAndDefinition() {
        Variable s = param(rnd, 1.5, 4, 7);
        float[] teacher = randn(rnd, 28, 2.0);
        int[] targets = {3, -100, 0, 6};
        GradCheck.of("T²·KL(teacher ‖ student)", () -> Ops.distillationKl(s, teacher, 2.5f, targets, -100)).wrt("s", s).step(1e-3).run();
        // The definition by hand for the first counted row alone, at T = 1.
        Variable one = param(rnd, 1, 1, 3);
        float[] t = {0.5f, -1f, 2f};
        double[] pt = softmax(t), ps = softmax(one.data());
        double kl = 0;
        for (int v = 0; v < 3; v++) kl += pt[v] * Math.log(pt[v] / ps[v]);
        assertEquals(kl, Ops.distillationKl(one, t, 1f, new int[] {1}, -100).data()[0], 1e-6);
        assertEquals(0f, Ops.distillationKl(one, one.data().clone(), 3f, new int[] {1}, -100).data()[0], 1e-6, "same logits: no divergence");
    }

    private static double[] softmax(float[] x) {
        double[] e = new double[x.length];
        double sum = 0;
        for (int i = 0; i < x.length; i++) sum += e[i] = Math.exp(x[i]);
        for (int i = 0; i < x.length; i++) e[i] /= sum;
        return e;
    }

    @Test
    void scaleRows() {
        Variable x = param(rnd, 1, 4, 6), s = param(rnd, 1, 4, 1);
        float[] r = probe(24);
        GradCheck.of("scaleRows", () -> Ops.dot(Ops.scaleRows(x, s), r)).wrt("x", x).wrt("s", s).run();
        float[] y = Ops.scaleRows(x, s).data();
        assertEquals(x.data()[7] * s.data()[1], y[7], 1e-7f);
    }

    @Test
    void gramDeviationOfRowsAndColumns() {
        Variable a = param(rnd, 0.5, 3, 7), b = param(rnd, 0.5, 6, 3);
        GradCheck.of("||AAᵀ−I||", () -> Ops.gramDeviation(a, true)).wrt("a", a).step(1e-3).run();
        GradCheck.of("||BᵀB−I||", () -> Ops.gramDeviation(b, false)).wrt("b", b).step(1e-3).run();
        // The definition, by hand: orthonormal rows give 0; a single row of norm 2 gives |4 − 1| = 3.
        Variable e = Variable.parameter(dev.lora4j.tensor.Tensor.of(new float[] {1, 0, 0, 0, 1, 0}, 2, 3));
        assertEquals(0f, Ops.gramDeviation(e, true).data()[0], 1e-7f);
        Variable two = Variable.parameter(dev.lora4j.tensor.Tensor.of(new float[] {0, 2, 0}, 1, 3));
        assertEquals(3f, Ops.gramDeviation(two, true).data()[0], 1e-6f);
        assertEquals((float) Math.sqrt(3 * 3 + 2), Ops.gramDeviation(two, false).data()[0], 1e-6f);
    }

    @Test
    void scale() {
        Variable x = param(rnd, 1, 3, 7);
        float[] r = probe(21);
        GradCheck.of("scale", () -> Ops.dot(Ops.scale(x, 1.7f), r)).wrt("x", x).run();
    }

    @Test
    void gelu() {
        Variable x = param(rnd, 1.5, 4, 8);
        float[] r = probe(32);
        GradCheck.of("gelu", () -> Ops.dot(Ops.gelu(x), r)).wrt("x", x).step(5e-3).run();
    }

    @Test
    void geluTanh() {
        Variable x = param(rnd, 1.5, 4, 8);
        float[] r = probe(32);
        GradCheck.of("geluTanh", () -> Ops.dot(Ops.geluTanh(x), r)).wrt("x", x).step(5e-3).run();
    }

    @Test
    void silu() {
        Variable x = param(rnd, 1.5, 4, 8);
        float[] r = probe(32);
        GradCheck.of("silu", () -> Ops.dot(Ops.silu(x), r)).wrt("x", x).step(5e-3).run();
    }

    @Test
    void siluMulEqualsSiluThenMulAndMatchesFiniteDifferences() {
        // 4 x 9: odd width, so the vector loop's masked tail is exercised.
        Variable g = param(rnd, 2.0, 4, 9), u = param(rnd, 1.0, 4, 9);
        float[] r = probe(36);
        GradCheck.of("siluMul", () -> Ops.dot(Ops.siluMul(g, u), r)).wrt("gate", g).wrt("up", u).step(5e-3).run();
        try (var _ = Tape.noGrad()) {
            float[] fused = Ops.siluMul(g, u).data(), composed = Ops.mul(Ops.silu(g), u).data();
            for (int i = 0; i < fused.length; i++) assertEquals(composed[i], fused[i], 1e-6 * Math.max(1, Math.abs(composed[i])), "element " + i);
        }
        // A frozen up gets no gradient; the gate's still arrives.
        u.setRequiresGrad(false);
        g.clearGrad();
        Tape.current().backward(Ops.dot(Ops.siluMul(g, u), r));
        assertNotNull(g.grad());
        assertNull(u.grad());
    }

    @Test
    void dropout() {
        float p = 0.3f;
        long seed = 1234;
        Variable x = param(rnd, 1, 5, 8);
        float[] r = probe(40);
        Map<String, float[]> g = GradCheck.of("dropout", () -> Ops.dot(Ops.dropout(x, p, seed), r)).wrt("x", x).run();
        // The same mask both ways: dropped elements get exactly zero, kept ones r / (1 - p).
        int dropped = 0;
        for (int i = 0; i < 40; i++) {
            if (g.get("x")[i] == 0f) dropped++;
            else assertEquals(r[i] / (1 - p), g.get("x")[i], 1e-5 * Math.abs(r[i]) + 1e-6, "element " + i);
        }
        assertTrue(dropped > 0 && dropped < 40, "p=0.3 should drop some but not all of 40 elements, dropped " + dropped);
    }

    @Test
    void softmax() {
        Variable x = param(rnd, 1.5, 3, 6);
        float[] r = probe(18);
        GradCheck.of("softmax", () -> Ops.dot(Ops.softmax(x), r)).wrt("x", x).step(5e-3).tolerance(1e-2, 3e-4).run();
    }

    // ---- normalisation ------------------------------------------------------------------------------------

    @Test
    void layerNorm() {
        Variable x = param(rnd, 1, 4, 6);
        Variable gamma = param(rnd, 1, 6), beta = param(rnd, 1, 6);
        float[] r = probe(24);
        GradCheck.of("layerNorm", () -> Ops.dot(Ops.layerNorm(x, gamma, beta, 1e-5f), r))
            .wrt("x", x).wrt("gamma", gamma).wrt("beta", beta).step(3e-3).run();
    }

    @Test
    void layerNormWithoutBias() {
        Variable x = param(rnd, 1, 3, 5);
        Variable gamma = param(rnd, 1, 5);
        float[] r = probe(15);
        GradCheck.of("layerNorm(no bias)", () -> Ops.dot(Ops.layerNorm(x, gamma, null, 1e-5f), r))
            .wrt("x", x).wrt("gamma", gamma).step(3e-3).run();
    }

    @Test
    void rmsNorm() {
        Variable x = param(rnd, 1, 4, 6);
        Variable gamma = param(rnd, 1, 6);
        float[] r = probe(24);
        GradCheck.of("rmsNorm", () -> Ops.dot(Ops.rmsNorm(x, gamma, 1e-6f), r))
            .wrt("x", x).wrt("gamma", gamma).step(3e-3).run();
    }

    // ---- embeddings, positions, attention ----------------------------------------------------------------

    @Test
    void embeddingWithRepeatedIds() {
        Variable table = param(rnd, 1, 6, 4);
        int[] ids = {3, 1, 3, 0, 3, 5};
        float[] r = probe(ids.length * 4);
        Map<String, float[]> g = GradCheck.of("embedding", () -> Ops.dot(Ops.embedding(table, ids), r))
            .wrt("table", table).run();
        // Row 3 is used three times: its gradient is the sum of three probe rows; row 2 and 4 are unused.
        for (int c = 0; c < 4; c++) {
            assertEquals(r[c] + r[2 * 4 + c] + r[4 * 4 + c], g.get("table")[3 * 4 + c], 1e-5);
            assertEquals(0f, g.get("table")[2 * 4 + c]);
            assertEquals(0f, g.get("table")[4 * 4 + c]);
        }
    }

    @Test
    void rope() {
        int heads = 3, headDim = 8;
        int[] positions = {7, 2, 11, 0, 5};
        Rope.Table table = new Rope.Table(Rope.inverseFrequencies(headDim, 10000.0), 16);
        Variable x = param(rnd, 1, positions.length, heads * headDim);
        float[] r = probe(x.size());
        GradCheck.of("rope", () -> Ops.dot(Ops.rope(x, heads, headDim, positions, table), r))
            .wrt("x", x).tolerance(1e-2, 3e-4).run();
    }

    @Test
    void attentionCausalGqaWithPaddedKey() {
        int batch = 2, seq = 5, heads = 4, kvHeads = 2, headDim = 4;
        Attention.Shape s = new Attention.Shape(batch, seq, heads, kvHeads, headDim);
        Variable q = param(rnd, 1, batch * seq, heads * headDim);
        Variable k = param(rnd, 1, batch * seq, kvHeads * headDim);
        Variable v = param(rnd, 1, batch * seq, kvHeads * headDim);
        boolean[] keyValid = new boolean[batch * seq];
        java.util.Arrays.fill(keyValid, true);
        int padded = seq + 2;                      // sequence 1, key 2 is padding
        keyValid[padded] = false;
        float scale = (float) (1 / Math.sqrt(headDim));
        float[] r = probe(q.size());
        Map<String, float[]> g = GradCheck.of("attention(causal, GQA, padded)",
                () -> Ops.dot(Ops.attention(q, k, v, s, true, keyValid, scale), r))
            .wrt("q", q).wrt("k", k).wrt("v", v).step(5e-3).tolerance(1e-2, 5e-4).run();
        // No query may attend to the padded key: its k and v rows get exactly no gradient.
        for (int c = 0; c < kvHeads * headDim; c++) {
            assertEquals(0f, g.get("k")[padded * kvHeads * headDim + c], "dk of the padded key");
            assertEquals(0f, g.get("v")[padded * kvHeads * headDim + c], "dv of the padded key");
        }
    }

    @Test
    void attentionLeftPaddedFullyMaskedRow() {
        // Left padding under a causal mask: query 0 of sequence 1 sees no key at all (zero output, no gradient).
        int batch = 2, seq = 4, heads = 2, kvHeads = 1, headDim = 4;
        Attention.Shape s = new Attention.Shape(batch, seq, heads, kvHeads, headDim);
        Variable q = param(rnd, 1, batch * seq, heads * headDim);
        Variable k = param(rnd, 1, batch * seq, kvHeads * headDim);
        Variable v = param(rnd, 1, batch * seq, kvHeads * headDim);
        boolean[] keyValid = {true, true, true, true, false, true, true, true};
        float[] r = probe(q.size());
        Map<String, float[]> g = GradCheck.of("attention(left padded)",
                () -> Ops.dot(Ops.attention(q, k, v, s, true, keyValid, 0.5f), r))
            .wrt("q", q).wrt("k", k).wrt("v", v).step(5e-3).tolerance(1e-2, 5e-4).run();
        for (int c = 0; c < heads * headDim; c++) assertEquals(0f, g.get("q")[seq * heads * headDim + c], "dq of the blind row");
    }

    @Test
    void attentionNonCausal() {
        int batch = 1, seq = 4, heads = 2, kvHeads = 2, headDim = 4;
        Attention.Shape s = new Attention.Shape(batch, seq, heads, kvHeads, headDim);
        Variable q = param(rnd, 1, batch * seq, heads * headDim);
        Variable k = param(rnd, 1, batch * seq, kvHeads * headDim);
        Variable v = param(rnd, 1, batch * seq, kvHeads * headDim);
        float[] r = probe(q.size());
        GradCheck.of("attention(non-causal)", () -> Ops.dot(Ops.attention(q, k, v, s, false, null, 0.5f), r))
            .wrt("q", q).wrt("k", k).wrt("v", v).step(5e-3).tolerance(1e-2, 5e-4).run();
    }

    // ---- losses ---------------------------------------------------------------------------------------------

    @Test
    void crossEntropyWithIgnoredRow() {
        int rows = 5, vocab = 7, ignore = -100;
        int[] targets = {2, ignore, 6, 0, 3};
        Variable logits = param(rnd, 1.5, rows, vocab);
        Map<String, float[]> g = GradCheck.of("crossEntropy", () -> Ops.crossEntropy(logits, targets, ignore))
            .wrt("logits", logits).tolerance(1e-2, 2e-4).run();
        for (int c = 0; c < vocab; c++) assertEquals(0f, g.get("logits")[vocab + c], "ignored row gets no gradient");
        // The loss itself: the mean over the 4 counted rows of logsumexp - target logit.
        double expected = 0;
        for (int row = 0; row < rows; row++) {
            if (targets[row] == ignore) continue;
            double m = Double.NEGATIVE_INFINITY, sum = 0;
            for (int c = 0; c < vocab; c++) m = Math.max(m, logits.data()[row * vocab + c]);
            for (int c = 0; c < vocab; c++) sum += Math.exp(logits.data()[row * vocab + c] - m);
            expected += m + Math.log(sum) - logits.data()[row * vocab + targets[row]];
        }
        try (var _ = Tape.noGrad()) {
            assertEquals(expected / 4, Ops.crossEntropy(logits, targets, ignore).data()[0], 1e-5);
        }
    }

    @Test
    void mse() {
        Variable x = param(rnd, 1, 3, 4);
        float[] target = randn(rnd, 12, 1);
        GradCheck.of("mse", () -> Ops.mse(x, target)).wrt("x", x).tolerance(1e-2, 2e-4).run();
    }

    @Test
    void dot() {
        Variable x = param(rnd, 1, 3, 4);
        float[] w = probe(12);
        Map<String, float[]> g = GradCheck.of("dot", () -> Ops.dot(x, w)).wrt("x", x).run();
        for (int i = 0; i < 12; i++) assertEquals(w[i], g.get("x")[i], 0f);
    }

    // ---- a composed model ------------------------------------------------------------------------------------

    @Test
    void twoLayerModel() {
        java.util.SplittableRandom init = new java.util.SplittableRandom(7);
        Linear fc1 = Linear.random(6, 8, true, init);
        Linear fc2 = Linear.random(8, 3, true, init);
        Variable x = param(rnd, 1, 4, 6);
        int[] targets = {0, 2, 1, 2};
        GradCheck.of("linear-gelu-linear-CE", () -> Ops.crossEntropy(fc2.forward(Ops.gelu(fc1.forward(x))), targets, -100))
            .wrt("fc1.weight", fc1.weight()).wrt("fc1.bias", fc1.bias())
            .wrt("fc2.weight", fc2.weight()).wrt("fc2.bias", fc2.bias())
            .wrt("x", x)
            .step(5e-3).tolerance(1e-2, 2e-4).run();
    }

    @Test
    void scaleColumns() {
        Variable x = param(rnd, 1, 2, 3, 4), sc = param(rnd, 1, 4);
        float[] r = probe(24);
        GradCheck.of("scaleColumns", () -> Ops.dot(Ops.scaleColumns(x, sc), r)).wrt("x", x).wrt("s", sc).run();
    }

    @Test
    void sumOfSquares() {
        Variable x = param(rnd, 1, 3, 5);
        GradCheck.of("sumOfSquares", () -> Ops.sumOfSquares(x)).wrt("x", x).run();
    }
}
