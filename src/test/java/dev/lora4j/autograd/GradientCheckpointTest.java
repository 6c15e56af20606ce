package dev.lora4j.autograd;

import static dev.lora4j.autograd.GradCheck.param;
import static dev.lora4j.autograd.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Gradient checkpointing gives the gradients of the plain recording, and keeps fewer activations alive. */
class GradientCheckpointTest {
    static final int ROWS = 48, WIDTH = 96, R = 4;

    /** A stack of LoRA-style residual blocks: x + W2·silu(x·W1ᵀ + s·x·Aᵀ·Bᵀ), frozen W, trainable A and B. */
    static final class Stack {
        final List<Variable[]> blocks = new ArrayList<>();

        Stack(Random rnd, int depth) {
            this(rnd, depth, 0.2);
        }

        Stack(Random rnd, int depth, double loraStd) {
            for (int i = 0; i < depth; i++) {
                Variable w1 = Variable.constant(Tensor.of(randn(rnd, WIDTH * WIDTH, 0.1), WIDTH, WIDTH));
                Variable w2 = Variable.constant(Tensor.of(randn(rnd, WIDTH * WIDTH, 0.1), WIDTH, WIDTH));
                blocks.add(new Variable[] {w1, w2, param(rnd, loraStd, R, WIDTH), param(rnd, loraStd, WIDTH, R)});
            }
        }

        Variable block(int i, Variable x) {
            Variable[] p = blocks.get(i);
            Variable h = Ops.silu(Ops.loraLinear(x, p[0], null, false, List.of(new Ops.LoraBranch(x, p[2], p[3], 2f))));
            return Ops.add(x, Ops.linear(h, p[1], null));
        }

        Variable loss(Variable x, float[] r, boolean checkpoint) {
            for (int i = 0; i < blocks.size(); i++) {
                int k = i;
                UnaryOperator<Variable> f = in -> block(k, in);
                x = checkpoint ? GradientCheckpoint.apply(x, f, GradientCheckpoint.Replay.NONE) : f.apply(x);
            }
            return Ops.dot(x, r);
        }

        List<Variable> parameters() {
            List<Variable> out = new ArrayList<>();
            for (Variable[] p : blocks) out.addAll(List.of(p[2], p[3]));
            return out;
        }

        void clearGrads() {
            for (Variable v : parameters()) v.clearGrad();
        }
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
        Tape.current().dropBuffers();
    }

    /** Loss, then the gradients of every parameter and of x, after one backward. */
    private static float[][] lossAndGradients(Stack s, Variable x, float[] r, boolean checkpoint, boolean reuse) {
        s.clearGrads();
        x.clearGrad();
        List<float[]> out = new ArrayList<>();
        try (var _ = reuse ? Tape.current().reuseBuffers() : null) {
            Variable loss = s.loss(x, r, checkpoint);
            out.add(new float[] {loss.data()[0]});
            Tape.current().backward(loss);
        }
        for (Variable p : s.parameters()) out.add(p.grad().clone());
        out.add(x.grad().clone());
        return out.toArray(new float[0][]);
    }

    @Test
    void sameLossAndGradientsAsThePlainRecording() {
        Random rnd = new Random(3);
        Stack s = new Stack(rnd, 3);
        Variable x = param(rnd, 1, ROWS, WIDTH);
        float[] r = randn(rnd, ROWS * WIDTH, 1);
        for (boolean reuse : new boolean[] {false, true}) {
            float[][] plain = lossAndGradients(s, x, r, false, reuse);
            float[][] checkpointed = lossAndGradients(s, x, r, true, reuse);
            assertEquals(plain.length, checkpointed.length);
            // The recomputation runs the very same kernels on the very same inputs: equal to the bit.
            for (int i = 0; i < plain.length; i++) assertArrayEquals(plain[i], checkpointed[i], 0f, "result " + i + " (reuse " + reuse + ")");
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        Random rnd = new Random(4);
        // Small adapter weights: with width 96 the blocks are curved enough that a float central difference needs them.
        Stack s = new Stack(rnd, 2, 0.05);
        Variable x = param(rnd, 0.5, 3, WIDTH);
        float[] r = randn(rnd, 3 * WIDTH, 1);
        GradCheck check = GradCheck.of("checkpointed residual blocks", () -> s.loss(x, r, true)).step(1e-2);
        check.wrt("x", x);
        for (int i = 0; i < s.parameters().size(); i++) check.wrt("p" + i, s.parameters().get(i));
        check.run();
    }

    @Test
    void nestedCheckpointsGiveThePlainGradients() {
        Random rnd = new Random(5);
        Stack s = new Stack(rnd, 2);
        Variable x = param(rnd, 1, ROWS, WIDTH);
        float[] r = randn(rnd, ROWS * WIDTH, 1);
        float[][] plain = lossAndGradients(s, x, r, false, true);
        s.clearGrads();
        x.clearGrad();
        try (var _ = Tape.current().reuseBuffers()) {
            // Both blocks under one outer checkpoint, each under its own inner one.
            Variable y = GradientCheckpoint.apply(x, in -> {
                Variable h = GradientCheckpoint.apply(in, v -> s.block(0, v), GradientCheckpoint.Replay.NONE);
                return GradientCheckpoint.apply(h, v -> s.block(1, v), GradientCheckpoint.Replay.NONE);
            }, GradientCheckpoint.Replay.NONE);
            Variable loss = Ops.dot(y, r);
            assertEquals(plain[0][0], loss.data()[0], 0f);
            Tape.current().backward(loss);
        }
        List<Variable> ps = s.parameters();
        for (int i = 0; i < ps.size(); i++) assertArrayEquals(plain[i + 1], ps.get(i).grad(), 0f, "parameter " + i);
        assertArrayEquals(plain[plain.length - 1], x.grad(), 0f, "x");
    }

    @Test
    void keepsFewerActivationsAliveAndLeaksNothingAcrossSteps() {
        Random rnd = new Random(6);
        Stack s = new Stack(rnd, 8);
        Variable x = Variable.constant(Tensor.of(randn(rnd, ROWS * WIDTH, 1), ROWS, WIDTH));
        float[] r = randn(rnd, ROWS * WIDTH, 1);
        // After a step, the pool holds every array the step had out at its peak: a measure of the step's memory.
        int[] pooled = new int[2];
        for (int c = 0; c < 2; c++) {
            boolean checkpoint = c == 1;
            Tape.current().dropBuffers();
            for (int step = 0; step < 3; step++) {
                s.clearGrads();
                try (var _ = Tape.current().reuseBuffers()) {
                    Tape.current().backward(s.loss(x, r, checkpoint));
                }
                if (step == 1) pooled[c] = Tape.current().pooledArrays();
                // Steady state: the third step needs no array the second did not give back.
                if (step == 2) assertEquals(pooled[c], Tape.current().pooledArrays(), "pool grew between steps (checkpoint " + checkpoint + ")");
            }
        }
        // Eight blocks of 3 [rows, width] activations each without checkpointing; with it, eight block outputs plus
        // one block's activations while it is recomputed.
        assertTrue(pooled[1] < pooled[0] * 2 / 3, "checkpointed step pooled " + pooled[1] + " arrays, plain " + pooled[0]);
    }

    @Test
    void outsideARecordingItIsJustTheBlock() {
        Random rnd = new Random(7);
        Stack s = new Stack(rnd, 1);
        Variable x = param(rnd, 1, ROWS, WIDTH);
        int[] calls = {0};
        try (var _ = Tape.noGrad()) {
            Variable y = GradientCheckpoint.apply(x, in -> {
                calls[0]++;
                return s.block(0, in);
            }, GradientCheckpoint.Replay.NONE);
            assertFalse(y.requiresGrad());
            assertNotNull(y.data());
        }
        assertEquals(0, Tape.current().size());
        assertEquals(1, calls[0]);
    }

    @Test
    void theRecomputationSeesTheRestoredRandomState() {
        Random rnd = new Random(8);
        Variable x = param(rnd, 1, ROWS, WIDTH);
        Variable w = param(rnd, 0.1, WIDTH, WIDTH);
        float[] r = randn(rnd, ROWS * WIDTH, 1);
        long[] counter = {0};
        UnaryOperator<Variable> block = in -> Ops.linear(Ops.dropout(in, 0.3f, 1000 + counter[0]++), w, null);

        Tape.current().backward(Ops.dot(block.apply(x), r));
        float[] plain = w.grad().clone();
        w.clearGrad();
        x.clearGrad();

        counter[0] = 0;
        long saved = counter[0];
        GradientCheckpoint.Replay replay = () -> {
            long now = counter[0];
            counter[0] = saved;
            return () -> counter[0] = now;
        };
        Tape.current().backward(Ops.dot(GradientCheckpoint.apply(x, block, replay), r));
        assertArrayEquals(plain, w.grad(), 0f, "the recomputed dropout mask is the first forward's");
        assertEquals(1, counter[0], "the block ran twice; after backward the counter is where the forward left it");
    }
}
