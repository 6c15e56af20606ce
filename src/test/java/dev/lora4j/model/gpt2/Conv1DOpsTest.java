package dev.lora4j.model.gpt2;

import static dev.lora4j.autograd.GradCheck.param;
import static dev.lora4j.autograd.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of the ops GPT-2 adds to {@link Ops}: linearInOut (Conv1D) and columns. */
class Conv1DOpsTest {
    private Random rnd;

    @BeforeEach
    void setUp() {
        rnd = new Random(4242);
        Tape.current().clear();
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    @Test
    void linearInOutGradients() {
        Variable x = param(rnd, 1, 2, 3, 5);     // rank 3: 6 rows
        Variable w = param(rnd, 0.5, 5, 7);      // [in, out]
        Variable b = param(rnd, 0.5, 7);
        float[] r = randn(rnd, 2 * 3 * 7, 1);
        Variable y = Ops.linearInOut(x, w, b);
        assertEquals(Shape.of(2, 3, 7), y.shape());
        Tape.current().clear();
        GradCheck.of("linearInOut+bias", () -> Ops.dot(Ops.linearInOut(x, w, b), r)).wrt("x", x).wrt("W", w).wrt("b", b).run();
        GradCheck.of("linearInOut", () -> Ops.dot(Ops.linearInOut(x, w, null), r)).wrt("x", x).wrt("W", w).run();
    }

    @Test
    void linearInOutEqualsLinearWithTransposedWeight() {
        int rows = 9, in = 37, out = 21;   // odd sizes: edge tiles of the GEMM
        Variable x = param(rnd, 1, rows, in), w = param(rnd, 1, in, out), b = param(rnd, 1, out);
        float[] wt = new float[out * in];
        for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) wt[o * in + i] = w.data()[i * out + o];
        try (var _ = Tape.noGrad()) {
            float[] expected = Ops.linear(x, Variable.constant(Tensor.of(wt, out, in)), b).data();
            float[] actual = Ops.linearInOut(x, w, b).data();
            for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-5, "element " + i);
        }
    }

    @Test
    void frozenConv1DWeightGetsNoGradient() {
        Variable x = param(rnd, 1, 4, 6);
        Conv1D conv = Conv1D.of(Tensor.of(randn(rnd, 6 * 3, 1), 6, 3), Tensor.zeros(3));
        conv.setTrainable(false);
        assertEquals(6, conv.inFeatures());
        assertEquals(3, conv.outFeatures());
        float[] r = randn(rnd, 12, 1);
        GradCheck.of("conv1d frozen", () -> Ops.dot(conv.forward(x), r)).wrt("x", x).run();
        assertNull(conv.weight().grad());
        assertNull(conv.bias().grad());
    }

    @Test
    void columnsGradientsAndValues() {
        Variable x = param(rnd, 1, 2, 3, 12);
        float[] r1 = randn(rnd, 6 * 4, 1), r2 = randn(rnd, 6 * 5, 1);
        Variable y = Ops.columns(x, 3, 7);
        assertEquals(Shape.of(2, 3, 4), y.shape());
        for (int row = 0; row < 6; row++) {
            for (int c = 0; c < 4; c++) assertEquals(x.data()[row * 12 + 3 + c], y.data()[row * 4 + c]);
        }
        Tape.current().clear();
        // Two overlapping slices of one input: both gradients must land in the right columns, added.
        GradCheck.of("columns", () -> Ops.add(Ops.dot(Ops.columns(x, 3, 7), r1), Ops.dot(Ops.columns(x, 5, 10), r2)))
            .wrt("x", x).run();
        assertThrows(IllegalArgumentException.class, () -> Ops.columns(x, 5, 5));
        assertThrows(IllegalArgumentException.class, () -> Ops.columns(x, 0, 13));
    }
}
