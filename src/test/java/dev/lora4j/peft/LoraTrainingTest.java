package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.train.optim.AdamW;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/** LoRA end to end on a two-layer network: exact gradients, and learning what the frozen base cannot. */
class LoraTrainingTest {
    static final int IN = 10, HIDDEN = 16, OUT = 6, ROWS = 64;

    static final class Mlp extends Module {
        final Slot<LinearLayer> fc1, fc2;

        Mlp(RandomGenerator rnd) {
            fc1 = register("fc1", Linear.random(IN, HIDDEN, true, rnd));
            fc2 = register("fc2", Linear.random(HIDDEN, OUT, true, rnd));
        }

        Variable forward(Variable x) {
            return fc2.get().forward(Ops.silu(fc1.get().forward(x)));
        }
    }

    static Variable input(long seed, int rows) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[rows * IN];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        return Variable.constant(Tensor.of(x, rows, IN));
    }

    @Test
    void loraGradientsMatchFiniteDifferences() {
        Mlp net = new Mlp(new SplittableRandom(1));
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "fc1,fc2").withDropout(0.25f), 9);
        LoraModelTest.randomiseAdapter(lora, "default", 4);
        Variable x = input(2, 5);
        int[] labels = {0, 5, 2, 2, 1};
        // Dropout draws a new mask per forward; the check needs the same function on every call, so eval mode.
        net.train(false);
        GradCheck check = GradCheck.of("two-layer LoRA", () -> Ops.crossEntropy(net.forward(x), labels, -100)).step(3e-3);
        net.namedParameters().forEach((k, v) -> { if (v.requiresGrad()) check.wrt(k, v); });
        check.run();
    }

    @Test
    void loraEmbeddingGradientsMatchFiniteDifferences() {
        TinyNet net = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "embed,fc2"), 9);
        LoraModelTest.randomiseAdapter(lora, "default", 6);
        int[] labels = {1, 2, 3, 4, 5, 6, 0, 1};
        GradCheck check = GradCheck.of("LoRA embedding", () -> Ops.crossEntropy(net.forward(LoraModelTest.IDS), labels, -100)).step(3e-3);
        net.namedParameters().forEach((k, v) -> { if (v.requiresGrad()) check.wrt(k, v); });
        check.allowZeroGradient().run();
    }

    /**
     * The teacher is the base network with a rank-2 change to each weight. The frozen base cannot follow it;
     * LoRA of rank 4 can represent the change exactly, so training must cut the loss by at least 50x.
     */
    @Test
    void learnsWhatTheFrozenBaseCannot() {
        Mlp teacher = new Mlp(new SplittableRandom(1));
        addLowRank((Linear) teacher.fc1.get(), new SplittableRandom(100));
        addLowRank((Linear) teacher.fc2.get(), new SplittableRandom(101));
        Mlp student = new Mlp(new SplittableRandom(1));
        Variable x = input(3, ROWS);
        float[] target;
        try (var s = Tape.noGrad()) {
            target = teacher.forward(x).data().clone();
        }
        LoraModel lora = LoraModel.inject(student, LoraConfig.of(4, 8, "fc1,fc2"), 5);
        AdamW opt = new AdamW(lora.trainableVariables(), 2e-2, 0.0);
        float first = 0, last = 0;
        for (int step = 0; step < 400; step++) {
            Variable loss = Ops.mse(student.forward(x), target);
            if (step == 0) first = loss.data()[0];
            last = loss.data()[0];
            Tape.current().backward(loss);
            opt.step();
            opt.zeroGrad();
        }
        assertTrue(first > 1e-2, "the frozen base is far from the teacher: " + first);
        assertTrue(last < first / 50, "loss fell from " + first + " to " + last + ", less than 50x");
    }

    /** W += u·vᵀ + u2·v2ᵀ with entries of size comparable to W's. */
    static void addLowRank(Linear layer, SplittableRandom rnd) {
        float[] w = layer.weight().data();
        int out = layer.outFeatures(), in = layer.inFeatures();
        for (int k = 0; k < 2; k++) {
            double[] u = new double[out], v = new double[in];
            for (int i = 0; i < out; i++) u[i] = rnd.nextGaussian() * 0.5;
            for (int j = 0; j < in; j++) v[j] = rnd.nextGaussian() * 0.5;
            for (int i = 0; i < out; i++) for (int j = 0; j < in; j++) w[i * in + j] += (float) (u[i] * v[j]);
        }
    }
}
