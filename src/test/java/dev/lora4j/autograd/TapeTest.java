package dev.lora4j.autograd;

import static dev.lora4j.autograd.GradCheck.param;
import static dev.lora4j.autograd.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.kernel.Attention;
import dev.lora4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TapeTest {
    private Random rnd;

    @BeforeEach
    void setUp() {
        rnd = new Random(99);
        Tape.current().clear();
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    // ---- (a) frozen weights ----------------------------------------------------------------------------------

    @Test
    void frozenWeightGetsNoGradientButInputAndBiasDo() {
        int rows = 3, in = 4, out = 2;
        Variable x = param(rnd, 1, rows, in);
        Variable w = param(rnd, 1, out, in);
        Variable b = param(rnd, 1, out);
        w.setRequiresGrad(false);
        float[] r = randn(rnd, rows * out, 1);

        Tape.current().backward(Ops.dot(Ops.linear(x, w, b), r));

        assertNull(w.grad(), "a frozen weight must not receive a gradient");
        assertNotNull(x.grad());
        assertNotNull(b.grad());
        // dL/dx = R·W and dL/db = Σ_rows R, computed here by hand.
        for (int i = 0; i < rows; i++) {
            for (int k = 0; k < in; k++) {
                double expected = 0;
                for (int o = 0; o < out; o++) expected += (double) r[i * out + o] * w.data()[o * in + k];
                assertEquals(expected, x.grad()[i * in + k], 1e-5, "dx[" + i + "," + k + "]");
            }
        }
        for (int o = 0; o < out; o++) {
            double expected = 0;
            for (int i = 0; i < rows; i++) expected += r[i * out + o];
            assertEquals(expected, b.grad()[o], 1e-5, "db[" + o + "]");
        }
    }

    @Test
    void freezingDropsAHeldGradient() {
        Variable w = param(rnd, 1, 2, 3);
        Tape.current().backward(Ops.dot(w, new float[] {1, 2, 3, 4, 5, 6}));
        assertNotNull(w.grad());
        w.setRequiresGrad(false);
        assertNull(w.grad());
        assertThrows(IllegalStateException.class, w::gradForAccumulation);
    }

    @Test
    void frozenAttentionInputsGetNoGradient() {
        Attention.Shape s = new Attention.Shape(1, 3, 2, 1, 2);
        Variable q = param(rnd, 1, 3, 4);
        Variable k = param(rnd, 1, 3, 2);
        Variable v = param(rnd, 1, 3, 2);
        k.setRequiresGrad(false);
        v.setRequiresGrad(false);
        Tape.current().backward(Ops.dot(Ops.attention(q, k, v, s, true, null, 0.7f), randn(rnd, 12, 1)));
        assertNotNull(q.grad());
        assertNull(k.grad());
        assertNull(v.grad());
    }

    @Test
    void opsOnFrozenInputsOnlyRecordNothing() {
        Variable x = Variable.constant(Tensor.zeros(2, 3));
        Variable w = param(rnd, 1, 4, 3);
        w.setRequiresGrad(false);
        int before = Tape.current().size();
        Variable y = Ops.gelu(Ops.linear(x, w, null));
        assertFalse(y.requiresGrad());
        assertEquals(before, Tape.current().size());
    }

    // ---- (b) noGrad ------------------------------------------------------------------------------------------

    @Test
    void noGradRecordsNothingAndOutputsDoNotRequireGrad() {
        Variable x = param(rnd, 1, 2, 4);
        Variable w = param(rnd, 1, 3, 4);
        Variable b = param(rnd, 1, 3);
        Variable gamma = param(rnd, 1, 3);
        Tape tape = Tape.current();
        int before = tape.size();
        try (var _ = Tape.noGrad()) {
            assertFalse(tape.recording());
            Variable h = Ops.linear(x, w, b);
            Variable g = Ops.gelu(h);
            Variable n = Ops.rmsNorm(g, gamma, 1e-6f);
            Variable sm = Ops.softmax(Ops.add(n, h));
            Variable loss = Ops.crossEntropy(sm, new int[] {0, 2}, -100);
            for (Variable out : new Variable[] {h, g, n, sm, loss}) {
                assertFalse(out.requiresGrad(), "output " + out + " inside noGrad");
            }
            assertEquals(before, tape.size());
            assertThrows(IllegalStateException.class, () -> tape.backward(loss));
        }
        assertTrue(tape.recording());
        Variable h = Ops.linear(x, w, b);
        assertTrue(h.requiresGrad());
        assertEquals(before + 1, tape.size(), "recording resumes after the scope closes");
    }

    @Test
    void noGradScopesNest() {
        Tape tape = Tape.current();
        Variable x = param(rnd, 1, 2, 2);
        try (var _ = Tape.noGrad()) {
            try (var _ = Tape.noGrad()) {
                assertFalse(tape.recording());
            }
            assertFalse(tape.recording(), "closing the inner scope must not resume recording");
            assertFalse(Ops.scale(x, 2f).requiresGrad());
        }
        assertTrue(tape.recording());
    }

    // ---- (c) gradient accumulation ----------------------------------------------------------------------------

    @Test
    void halfWeightedMicroBatchesEqualTheMeanOverTheWholeBatch() {
        int in = 5, hidden = 6, vocab = 4;
        Variable w1 = param(rnd, 0.5, hidden, in), b1 = param(rnd, 0.5, hidden);
        Variable w2 = param(rnd, 0.5, vocab, hidden);
        float[] xAll = randn(rnd, 6 * in, 1);
        int[] tAll = {0, 3, 1, 1, 2, 0};

        // One backward of the mean loss over all 6 rows.
        Tape.current().backward(loss(xAll, tAll, w1, b1, w2));
        float[] gw1 = w1.grad().clone(), gb1 = b1.grad().clone(), gw2 = w2.grad().clone();
        for (Variable p : new Variable[] {w1, b1, w2}) p.clearGrad();

        // Two micro-batches of 3 rows, each loss weighted 0.5: the gradients add up in place.
        float[] x1 = java.util.Arrays.copyOfRange(xAll, 0, 3 * in), x2 = java.util.Arrays.copyOfRange(xAll, 3 * in, 6 * in);
        Tape.current().backward(loss(x1, new int[] {0, 3, 1}, w1, b1, w2), 0.5f);
        float[] afterFirst = w2.grad().clone();
        Tape.current().backward(loss(x2, new int[] {1, 2, 0}, w1, b1, w2), 0.5f);

        assertClose(gw1, w1.grad(), "w1");
        assertClose(gb1, b1.grad(), "b1");
        assertClose(gw2, w2.grad(), "w2");
        // And the first micro-batch alone is not already the answer (the second one really added something).
        double diff = 0;
        for (int i = 0; i < gw2.length; i++) diff = Math.max(diff, Math.abs(afterFirst[i] - gw2[i]));
        assertTrue(diff > 1e-3, "second micro-batch changed nothing");
    }

    private static Variable loss(float[] x, int[] targets, Variable w1, Variable b1, Variable w2) {
        Variable input = Variable.constant(Tensor.of(x.clone(), targets.length, x.length / targets.length));
        return Ops.crossEntropy(Ops.linear(Ops.silu(Ops.linear(input, w1, b1)), w2, null), targets, -100);
    }

    private static void assertClose(float[] expected, float[] actual, String name) {
        assertNotNull(actual, name);
        double max = 0, err = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i]));
            err = Math.max(err, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(max > 0, name + " gradient is all zero");
        assertTrue(err <= 1e-5 * max, name + ": max difference " + err + " exceeds 1e-5 of max |grad| " + max);
    }

    // ---- (d) bad losses ---------------------------------------------------------------------------------------

    @Test
    void backwardOnANonScalarThrows() {
        Variable x = param(rnd, 1, 2, 3);
        Variable y = Ops.scale(x, 2f);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tape.current().backward(y));
        assertTrue(e.getMessage().contains("scalar"), e.getMessage());
        assertTrue(e.getMessage().contains("[2, 3]"), "the message should name the shape: " + e.getMessage());
        assertNull(x.grad());
    }

    @Test
    void backwardOnALossThatRequiresNoGradThrows() {
        Variable x = Variable.constant(Tensor.of(new float[] {1, 2, 3}, 3));
        Variable loss = Ops.dot(x, new float[] {1, 1, 1});
        assertFalse(loss.requiresGrad());
        RuntimeException e = assertThrows(RuntimeException.class, () -> Tape.current().backward(loss));
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().toLowerCase().matches("(?s).*(trainable|grad).*"), e.getMessage());
    }

    // ---- (e) release after backward ----------------------------------------------------------------------------

    @Test
    void backwardEmptiesTheTapeAndReleasesIntermediateGradients() {
        Variable x = Variable.constant(Tensor.of(randn(rnd, 8, 1), 2, 4));
        Variable w = param(rnd, 1, 3, 4);
        Variable gamma = param(rnd, 1, 3);
        Variable h = Ops.linear(x, w, null);
        Variable n = Ops.rmsNorm(h, gamma, 1e-6f);
        Variable loss = Ops.dot(Ops.gelu(n), randn(rnd, 6, 1));
        assertEquals(4, Tape.current().size(), "linear, rmsNorm, gelu, dot");

        Tape.current().backward(loss);

        assertEquals(0, Tape.current().size());
        assertNull(h.grad(), "intermediate gradient released");
        assertNull(n.grad(), "intermediate gradient released");
        assertNull(loss.grad(), "the loss's own gradient is released too");
        assertNotNull(w.grad(), "parameter gradients persist");
        assertNotNull(gamma.grad(), "parameter gradients persist");
        assertNull(x.grad());

        // A second backward of a fresh graph adds to, not replaces, the parameter gradient.
        float[] first = w.grad().clone();
        Tape.current().backward(Ops.dot(Ops.gelu(Ops.rmsNorm(Ops.linear(x, w, null), gamma, 1e-6f)), new float[6]));
        assertEquals(0, Tape.current().size());
        for (int i = 0; i < first.length; i++) assertEquals(first[i], w.grad()[i], 0f, "zero probe adds nothing");
    }

    @Test
    void clearForgetsARecordedGraph() {
        Variable w = param(rnd, 1, 2, 2);
        Variable y = Ops.scale(w, 3f);
        assertEquals(1, Tape.current().size());
        Tape.current().clear();
        assertEquals(0, Tape.current().size());
        // The scale step is gone: a backward through y now stops at y and never reaches w.
        Variable loss = Ops.dot(y, new float[] {1, 1, 1, 1});
        Tape.current().backward(loss);
        assertNull(w.grad());
    }

    /** Two steps of a small LoRA-style model; returns the parameters' gradients and the step's last output array. */
    private static Object[] twoSteps(Variable x, Variable w, Variable a, Variable b, float[] r, boolean reuse) {
        float[] lastArray = null;
        float[][] grads = null;
        for (int step = 0; step < 2; step++) {
            a.clearGrad();
            b.clearGrad();
            try (var s = reuse ? Tape.current().reuseBuffers() : null) {
                Variable h = Ops.gelu(Ops.loraLinear(x, w, null, false, java.util.List.of(new Ops.LoraBranch(x, a, b, 2f))));
                Variable y = Ops.mul(h, Ops.silu(h));
                lastArray = y.data();
                Tape.current().backward(Ops.dot(y, r));
            }
            grads = new float[][] {a.grad().clone(), b.grad().clone()};
        }
        return new Object[] {grads, lastArray};
    }

    @Test
    void reusedBuffersGiveTheSameGradientsAndAreReallyReused() {
        Random rnd = new Random(5);
        // 96 x 80 outputs: above the pool's minimum size, so outputs and activation gradients are pooled.
        Variable x = Variable.constant(Tensor.of(randn(rnd, 96 * 64, 1), 96, 64));
        Variable w = Variable.constant(Tensor.of(randn(rnd, 80 * 64, 0.2), 80, 64));
        Variable a = param(rnd, 0.2, 4, 64), b = param(rnd, 0.2, 80, 4);
        float[] r = randn(rnd, 96 * 80, 1);
        Object[] fresh = twoSteps(x, w, a, b, r, false);
        Object[] pooled = twoSteps(x, w, a, b, r, true);
        float[][] g1 = (float[][]) fresh[0], g2 = (float[][]) pooled[0];
        for (int k = 0; k < g1.length; k++) {
            for (int i = 0; i < g1[k].length; i++) assertEquals(g1[k][i], g2[k][i], 0f, "gradient " + k + "[" + i + "]");
        }
        // Every array the second step needed came from the pool the first filled: none new, none missing.
        Tape.current().dropBuffers();
        twoSteps(x, w, a, b, r, true);
        int afterTwo = Tape.current().pooledArrays();
        assertTrue(afterTwo > 4, "outputs and activation gradients were pooled: " + afterTwo);
        twoSteps(x, w, a, b, r, true);
        assertEquals(afterTwo, Tape.current().pooledArrays());
        Tape.current().dropBuffers();
    }
}
