package dev.lora4j.autograd;

import static dev.lora4j.autograd.GradCheck.param;
import static dev.lora4j.autograd.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.kernel.Int8Matrix;
import dev.lora4j.tensor.DType;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Ops#linearCrossEntropy}, the chunked LM head + loss: its gradients against central differences, and its
 * loss and gradients against the materialised {@code crossEntropy(linear(hidden, W))} it replaces, with chunks
 * that end mid-batch, rows and whole chunks ignored, pooled buffers, and weights read in place (BF16) or decoded
 * (INT8).
 */
class LinearCrossEntropyTest {
    private static final int IGNORE = -100;
    private Random rnd;

    @BeforeEach
    void setUp() {
        rnd = new Random(77);
        Tape.current().clear();
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    /**
     * 11 rows in chunks of 3: [0,3) [3,6) [6,9) [9,11), the last one partial; rows 3..5 are all ignored (that
     * chunk runs no GEMM), and rows 1 and 9 are ignored inside chunks that count.
     */
    private static int[] targets(int vocab, Random rnd) {
        int[] t = new int[11];
        for (int i = 0; i < t.length; i++) t[i] = rnd.nextInt(vocab);
        t[1] = t[3] = t[4] = t[5] = t[9] = IGNORE;
        return t;
    }

    @Test
    void gradientsOfHiddenAndWeightMatchFiniteDifferences() {
        int h = 5, vocab = 13;
        Variable hidden = param(rnd, 1.0, 11, h), w = param(rnd, 0.7, vocab, h);
        int[] t = targets(vocab, rnd);
        var grads = GradCheck.of("linearCrossEntropy", () -> Ops.linearCrossEntropy(hidden, w, t, IGNORE, 3))
            .wrt("hidden", hidden).wrt("weight", w).run();
        // The ignored rows get exactly no gradient.
        for (int r : new int[] {1, 3, 4, 5, 9}) {
            for (int j = 0; j < h; j++) assertEquals(0f, grads.get("hidden")[r * h + j], "row " + r);
        }
    }

    @Test
    void gradientOfAFrozenHiddenStateGoesOnlyToTheWeight() {
        int h = 4, vocab = 9;
        Variable hidden = Variable.constant(Tensor.of(randn(rnd, 11 * h, 1.0), 11, h)), w = param(rnd, 0.7, vocab, h);
        int[] t = targets(vocab, rnd);
        GradCheck.of("linearCrossEntropy (frozen hidden)", () -> Ops.linearCrossEntropy(hidden, w, t, IGNORE, 3)).wrt("weight", w).run();
        assertNull(hidden.grad());
    }

    /** Loss and the gradients of hidden and W by the materialised path (chunk == 0) or the fused one, seeded with 0.5. */
    private record Run(float loss, float[] dHidden, float[] dWeight) {}

    private static Run run(Variable hidden, Variable w, int[] t, int chunk) {
        hidden.clearGrad();
        w.clearGrad();
        Variable loss = chunk == 0 ? Ops.crossEntropy(Ops.linear(hidden, w, null), t, IGNORE) : Ops.linearCrossEntropy(hidden, w, t, IGNORE, chunk);
        float value = loss.data()[0];
        Tape.current().backward(loss, 0.5f);
        return new Run(value, hidden.grad() == null ? null : hidden.grad().clone(), w.grad() == null ? null : w.grad().clone());
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        double scale = 0, worst = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(scale > 0, what + " is all zero, the comparison would be vacuous");
        assertTrue(worst <= 1e-5 * scale, what + ": max |diff| " + worst + " against max |value| " + scale);
    }

    private static void assertSameRun(Run expected, Run actual) {
        assertEquals(expected.loss(), actual.loss(), 1e-5 * Math.abs(expected.loss()), "loss");
        if (expected.dHidden() != null) assertClose(expected.dHidden(), actual.dHidden(), "d hidden");
        if (expected.dWeight() != null) assertClose(expected.dWeight(), actual.dWeight(), "d weight");
    }

    @Test
    void equalsTheMaterialisedHeadAndLossForEveryChunking() {
        int rows = 37, h = 24, vocab = 300;
        Variable hidden = param(rnd, 1.0, rows, h), w = param(rnd, 0.3, vocab, h);
        int[] t = new int[rows];
        for (int i = 0; i < rows; i++) t[i] = i % 5 == 2 || (i >= 8 && i < 16) ? IGNORE : rnd.nextInt(vocab);
        Run expected = run(hidden, w, t, 0);
        for (int chunk : new int[] {1, 7, 8, 36, 37, 1000}) assertSameRun(expected, run(hidden, w, t, chunk));
        assertSameRun(expected, run(hidden, w, t, Ops.defaultChunkRows(vocab)));
        // A frozen weight: only hidden's gradient, none kept for W.
        w.setRequiresGrad(false);
        Run frozen = run(hidden, w, t, 7);
        assertNull(frozen.dWeight());
        assertSameRun(run(hidden, w, t, 0), frozen);
    }

    @Test
    void everyRowIgnoredGivesZeroLossAndZeroGradient() {
        Variable hidden = param(rnd, 1.0, 6, 4), w = param(rnd, 0.3, 10, 4);
        int[] t = new int[6];
        java.util.Arrays.fill(t, IGNORE);
        Variable loss = Ops.linearCrossEntropy(hidden, w, t, IGNORE, 4);
        assertEquals(0f, loss.data()[0]);
        Tape.current().backward(loss);
        for (float g : hidden.grad()) assertEquals(0f, g);
        for (float g : w.grad()) assertEquals(0f, g);
    }

    @Test
    void evaluationComputesOnlyTheLoss() {
        Variable hidden = param(rnd, 1.0, 11, 5), w = param(rnd, 0.7, 13, 5);
        int[] t = targets(13, rnd);
        float expected = Ops.crossEntropy(Ops.linear(hidden, w, null), t, IGNORE).data()[0];
        Tape.current().clear();
        try (var _ = Tape.noGrad()) {
            Variable loss = Ops.linearCrossEntropy(hidden, w, t, IGNORE, 3);
            assertFalse(loss.requiresGrad());
            assertEquals(expected, loss.data()[0], 1e-5 * expected);
        }
        assertEquals(0, Tape.current().size(), "nothing recorded under noGrad");
    }

    @Test
    void rejectsBadInputs() {
        Variable hidden = param(rnd, 1.0, 4, 5), w = param(rnd, 0.7, 13, 5);
        var e = assertThrows(IllegalArgumentException.class, () -> Ops.linearCrossEntropy(hidden, w, new int[] {0, 13, 1, 2}, IGNORE, 2));
        assertTrue(e.getMessage().contains("target 13 of row 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Ops.linearCrossEntropy(hidden, w, new int[] {0, 1, 2}, IGNORE, 2));
        assertThrows(IllegalArgumentException.class, () -> Ops.linearCrossEntropy(hidden, param(rnd, 1, 13, 4), new int[4], IGNORE, 2));
        assertThrows(IllegalArgumentException.class, () -> Ops.linearCrossEntropy(hidden, w, new int[4], IGNORE, 0));
    }

    /**
     * Inside reuseBuffers, with hidden a pooled op output: the same gradients as without pooling, step after step.
     * The head's gradient must not come from the pool (it outlives the scope): the logits chunk here has W's very
     * size (24 rows in 3 chunks of 8: 8 x 512 = 512 x 8), so a pooled W gradient would be handed out again as the
     * next step's logits, and the accumulated gradient after two steps would not be twice the first's.
     */
    @Test
    void worksInsideReusedBuffersAndKeepsTheWeightGradientOutOfThePool() {
        int rows = 24, in = 6, h = 8, vocab = 512, chunk = 8;
        Variable x = Variable.constant(Tensor.of(randn(rnd, rows * in, 1.0), rows, in));
        Variable a = param(rnd, 0.5, h, in), w = param(rnd, 0.3, vocab, h);
        int[] t = new int[rows];
        for (int i = 0; i < rows; i++) t[i] = i == 3 ? IGNORE : rnd.nextInt(vocab);

        Tape.current().dropBuffers();
        Variable plain = Ops.crossEntropy(Ops.linear(Ops.linear(x, a, null), w, null), t, IGNORE);
        float expectedLoss = plain.data()[0];
        Tape.current().backward(plain);
        float[] expectedA = a.grad().clone(), expectedW = w.grad().clone();
        a.clearGrad();
        w.clearGrad();

        for (int step = 1; step <= 3; step++) {
            a.clearGrad();
            try (var s = Tape.current().reuseBuffers()) {
                Variable loss = Ops.linearCrossEntropy(Ops.linear(x, a, null), w, t, IGNORE, chunk);
                assertEquals(expectedLoss, loss.data()[0], 1e-5 * expectedLoss, "step " + step);
                Tape.current().backward(loss);
            }
            assertClose(expectedA, a.grad(), "d A, step " + step);
            float[] scaled = expectedW.clone();
            for (int i = 0; i < scaled.length; i++) scaled[i] *= step;
            assertClose(scaled, w.grad(), "d W accumulated over " + step + " steps");
        }
        assertTrue(Tape.current().pooledArrays() > 0, "the chunk buffers went back to the pool");
        Tape.current().dropBuffers();
    }

    private static Tensor bf16(float[] v, int rows, int cols) {
        var layout = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        MemorySegment seg = Arena.ofAuto().allocate(2L * v.length, 2);
        for (int i = 0; i < v.length; i++) seg.setAtIndex(layout, i, DType.floatToBf16(v[i]));
        return Tensor.mapped(seg, DType.BF16, Shape.of(rows, cols));
    }

    /** A frozen head read in place as BF16 or decoded from INT8 gives what the materialised path gives on the same weight. */
    @Test
    void readsMappedAndQuantizedHeadsInPlace() {
        int rows = 19, h = 32, vocab = 200;
        float[] wv = randn(rnd, vocab * h, 0.3);
        Variable hidden = param(rnd, 1.0, rows, h);
        int[] t = new int[rows];
        for (int i = 0; i < rows; i++) t[i] = i == 5 ? IGNORE : rnd.nextInt(vocab);
        for (Tensor stored : new Tensor[] {bf16(wv, vocab, h), Tensor.quantized(Int8Matrix.quantize(wv, vocab, h))}) {
            Variable w = new Variable(stored, false);
            Run expected = run(hidden, w, t, 0), fused = run(hidden, w, t, 6);
            assertSameRun(expected, fused);
            assertNull(fused.dWeight());
            assertTrue(stored.isMapped() || stored.quantized() != null, "the weight was not widened onto the heap");
            assertNotNull(fused.dHidden());
        }
    }
}
