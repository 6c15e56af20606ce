package dev.lora4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lora4j.kernel.Conv2dShape;
import dev.lora4j.nn.Lstm;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of the convolution, pooling, batch-norm and LSTM ops. */
class ConvLstmGradientTest {
    final Random rnd = new Random(11);

    float[] probe(int n) {
        return GradCheck.randn(rnd, n, 1.0);
    }

    @Test
    void conv2dWithStridePaddingDilation() {
        Variable x = GradCheck.param(rnd, 1.0, 2, 3, 6, 5);
        Variable w = GradCheck.param(rnd, 0.5, 4, 3, 3, 2);
        Variable b = GradCheck.param(rnd, 0.5, 4);
        Conv2dShape s = ConvOps.geometry(x, 3, 2, new int[] {2, 1}, new int[] {1, 2}, new int[] {1, 2});
        float[] r = probe(2 * 4 * s.outPlane());
        GradCheck.of("conv2d", () -> Ops.dot(ConvOps.conv2d(x, w, b, s), r))
            .wrt("x", x).wrt("w", w).wrt("b", b).step(1e-2).run();
    }

    @Test
    void frozenConvWeightGetsNoGradient() {
        Variable x = GradCheck.param(rnd, 1.0, 1, 2, 4, 4);
        Variable w = GradCheck.param(rnd, 0.5, 3, 2, 3, 3);
        w.setRequiresGrad(false);
        Conv2dShape s = ConvOps.geometry(x, 3, 3, new int[] {1, 1}, new int[] {1, 1}, new int[] {1, 1});
        float[] r = probe(3 * 16);
        GradCheck.of("conv2d frozen w", () -> Ops.dot(ConvOps.conv2d(x, w, null, s), r)).wrt("x", x).run();
        assertEquals(null, w.grad());
    }

    @Test
    void pooling() {
        Variable x = GradCheck.param(rnd, 1.0, 2, 2, 5, 5);
        Conv2dShape max = ConvOps.geometry(x, 3, 3, new int[] {2, 2}, new int[] {1, 1}, new int[] {1, 1});
        float[] r1 = probe(2 * 2 * max.outPlane());
        // A small step keeps every window's maximum where it is.
        GradCheck.of("maxPool2d", () -> Ops.dot(ConvOps.maxPool2d(x, max), r1)).wrt("x", x).step(1e-3).run();
        Conv2dShape avg = ConvOps.geometry(x, 2, 2, new int[] {2, 2}, new int[] {1, 1}, new int[] {1, 1});
        float[] r2 = probe(2 * 2 * avg.outPlane());
        GradCheck.of("avgPool2d", () -> Ops.dot(ConvOps.avgPool2d(x, avg), r2)).wrt("x", x).run();
        float[] r3 = probe(4);
        GradCheck.of("globalAvgPool", () -> Ops.dot(ConvOps.globalAvgPool(x), r3)).wrt("x", x).run();
    }

    @Test
    void batchNormTrainingAndInference() {
        Variable x = GradCheck.param(rnd, 1.5, 3, 4, 2, 3);
        Variable g = GradCheck.param(rnd, 0.3, 4);
        for (int i = 0; i < 4; i++) g.data()[i] += 1;
        Variable b = GradCheck.param(rnd, 0.3, 4);
        float[] mean = {0.1f, -0.2f, 0.3f, 0f}, var = {1f, 2f, 0.5f, 1.5f};
        float[] r = probe(x.size());
        GradCheck.of("batchNorm train", () -> Ops.dot(ConvOps.batchNorm(x, g, b, mean.clone(), var.clone(), true, 0.1f, 1e-5f), r))
            .wrt("x", x).wrt("gamma", g).wrt("beta", b).step(3e-3).run();
        GradCheck.of("batchNorm eval", () -> Ops.dot(ConvOps.batchNorm(x, g, b, mean, var, false, 0.1f, 1e-5f), r))
            .wrt("x", x).wrt("gamma", g).wrt("beta", b).run();
    }

    @Test
    void reluAndReshape() {
        Variable x = GradCheck.param(rnd, 1.0, 2, 3, 4);
        float[] r = probe(24);
        GradCheck.of("relu", () -> Ops.dot(ConvOps.reshape(ConvOps.relu(x), 6, 4), r)).wrt("x", x).step(1e-3).run();
    }

    @Test
    void lstmBackpropagatesThroughTime() {
        Lstm lstm = Lstm.random(3, 4, 2, true, new SplittableRandom(3));
        Variable x = GradCheck.param(rnd, 1.0, 2, 5, 3);
        float[] r = probe(2 * 5 * 8);
        GradCheck check = GradCheck.of("lstm", () -> Ops.dot(lstm.forward(x), r)).wrt("x", x).step(3e-3);
        for (String name : Lstm.parameterNames(2, true)) check.wrt(name, lstm.parameter(name));
        check.run();
    }

    @Test
    void lstmUnidirectionalSingleLayer() {
        Lstm lstm = Lstm.random(2, 3, 1, false, new SplittableRandom(4));
        Variable x = GradCheck.param(rnd, 1.0, 3, 4, 2);
        float[] r = probe(3 * 4 * 3);
        GradCheck.of("lstm 1 layer", () -> Ops.dot(lstm.forward(x), r)).wrt("x", x)
            .wrt("weight_hh_l0", lstm.parameter("weight_hh_l0")).wrt("bias_hh_l0", lstm.parameter("bias_hh_l0")).step(3e-3).run();
    }
}
