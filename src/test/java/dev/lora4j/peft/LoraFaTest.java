package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.train.optim.AdamW;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** LoRA-FA: A frozen at its initialisation, B trained with exact gradients, and x not read by the backward. */
class LoraFaTest {
    @Test
    void onlyBTrainsAndAStaysAtItsInitialisation() {
        LoraTrainingTest.Mlp net = new LoraTrainingTest.Mlp(new SplittableRandom(1));
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "fc1,fc2").withFrozenA(true), 9);
        List<Variable> trainable = lora.trainableVariables();
        assertEquals(2, trainable.size(), "the two B matrices, nothing else");
        var fc1 = lora.loraLayers().get(0).adapterParameters("default");
        assertTrue(trainable.contains(fc1.get("lora_B.weight")) && !trainable.contains(fc1.get("lora_A.weight")));

        float[] a0 = fc1.get("lora_A.weight").data().clone(), b0 = fc1.get("lora_B.weight").data().clone();
        Variable x = LoraTrainingTest.input(3, 32);
        int[] labels = new int[32];
        for (int i = 0; i < labels.length; i++) labels[i] = i % LoraTrainingTest.OUT;
        AdamW opt = new AdamW(trainable, 1e-2, 0);
        double first = 0, last = 0;
        for (int step = 0; step < 20; step++) {
            Variable loss = Ops.crossEntropy(net.forward(x), labels, -100);
            if (step == 0) first = loss.data()[0];
            last = loss.data()[0];
            Tape.current().backward(loss);
            opt.step();
            opt.zeroGrad();
        }
        assertArrayEquals(a0, fc1.get("lora_A.weight").data(), "A is bit for bit its initial value");
        assertFalse(Arrays.equals(b0, fc1.get("lora_B.weight").data()), "B moved");
        assertTrue(last < first, "loss fell: " + first + " -> " + last);
    }

    @Test
    void gradientsOfBMatchFiniteDifferences() {
        LoraTrainingTest.Mlp net = new LoraTrainingTest.Mlp(new SplittableRandom(1));
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "fc1,fc2").withFrozenA(true), 9);
        LoraModelTest.randomiseAdapter(lora, "default", 4);
        Variable x = LoraTrainingTest.input(2, 5);
        int[] labels = {0, 5, 2, 2, 1};
        GradCheck check = GradCheck.of("LoRA-FA", () -> Ops.crossEntropy(net.forward(x), labels, -100)).step(3e-3);
        lora.trainableVariables().forEach(v -> check.wrt(v.toString() + System.identityHashCode(v), v));
        check.run();
    }

    /**
     * The point of LoRA-FA: the branch's backward needs A·x (for dB) but not x, since A gets no gradient. Poisoning
     * x with NaN after the forward must leave every gradient finite and unchanged; with plain LoRA it must not
     * (dA = dhᵀ·x), which shows the check can fail.
     */
    @Test
    void backwardReadsOnlyAxNotX() {
        float[] clean = gradientsAfterPoisoning(true, false), poisoned = gradientsAfterPoisoning(true, true);
        assertArrayEquals(clean, poisoned, "LoRA-FA: x's values are not read by backward");
        for (float g : poisoned) assertTrue(Float.isFinite(g));
        float[] plain = gradientsAfterPoisoning(false, true);
        assertTrue(Float.isNaN(plain[plain.length - 1]), "plain LoRA reads x for dA");
    }

    /** dB, dx and (plain LoRA) dA of one wrapped linear, x optionally overwritten with NaN between forward and backward. */
    private static float[] gradientsAfterPoisoning(boolean fa, boolean poison) {
        Random rnd = new Random(4);
        DoraTest.One m = new DoraTest.One(Linear.random(6, 5, true, new SplittableRandom(2)));
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(2, 4, "proj").withFrozenA(fa), 3);
        LoraModelTest.randomiseAdapter(lora, "default", 5);
        Variable x = Variable.parameter(Tensor.of(GradCheck.randn(rnd, 4 * 6, 1), 4, 6)); // an upstream activation
        Variable loss = Ops.dot(m.forward(x), GradCheck.randn(rnd, 4 * 5, 1));
        if (poison) Arrays.fill(x.data(), Float.NaN);
        Tape.current().backward(loss);
        var p = lora.loraLayers().get(0).adapterParameters("default");
        float[] db = p.get("lora_B.weight").grad(), dx = x.grad();
        float[] da = fa ? new float[0] : p.get("lora_A.weight").grad();
        float[] all = new float[db.length + dx.length + da.length];
        System.arraycopy(db, 0, all, 0, db.length);
        System.arraycopy(dx, 0, all, db.length, dx.length);
        System.arraycopy(da, 0, all, db.length + dx.length, da.length);
        return all;
    }
}
