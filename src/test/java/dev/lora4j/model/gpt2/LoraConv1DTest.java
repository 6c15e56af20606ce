package dev.lora4j.model.gpt2;

import static dev.lora4j.autograd.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraConv1D;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.tensor.Tensor;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** LoRA on a transformers Conv1D with Peft's fan_in_fan_out semantics. */
class LoraConv1DTest {
    static final int IN = 10, OUT = 14, ROWS = 6;

    /** One Conv1D named like GPT-2's, so Peft-style targeting applies. */
    static final class Net extends Module {
        final Slot<LinearLayer> cAttn;

        Net(long seed) {
            Random rnd = new Random(seed);
            cAttn = register("c_attn", Conv1D.of(Tensor.of(randn(rnd, IN * OUT, 0.5), IN, OUT), Tensor.of(randn(rnd, OUT, 0.5), OUT)));
        }

        Variable forward(Variable x) {
            return cAttn.get().forward(x);
        }
    }

    static Variable input() {
        return Variable.constant(Tensor.of(randn(new Random(3), ROWS * IN, 1), ROWS, IN));
    }

    static float[] run(Net n, Variable x) {
        try (var _ = Tape.noGrad()) {
            return n.forward(x).data().clone();
        }
    }

    static void randomise(LoraConv1D l, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Variable v : l.adapterParameters("default").values()) {
            for (int i = 0; i < v.size(); i++) v.data()[i] = (float) (rnd.nextDouble() - 0.5);
        }
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    @Test
    void zeroBIsBitIdenticalAndShapesArePeftsLinearOnes() {
        Net n = new Net(1);
        Variable x = input();
        float[] base = run(n, x);
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "c_attn"), 7);
        LoraConv1D l = assertInstanceOf(LoraConv1D.class, n.get("c_attn"));
        assertArrayEquals(base, run(n, x), "B = 0 must not change a single bit");
        assertEquals(java.util.List.of(4, IN), java.util.Arrays.stream(l.adapterParameters("default").get("lora_A.weight").shape().dims()).boxed().toList());
        assertEquals(java.util.List.of(OUT, 4), java.util.Arrays.stream(l.adapterParameters("default").get("lora_B.weight").shape().dims()).boxed().toList());
        assertEquals(java.util.Set.of("base_model.model.c_attn.lora_A.weight", "base_model.model.c_attn.lora_B.weight"),
            lora.adapterStateDict("default").keySet());
        assertTrue(lora.fanInFanOut("default"));
        assertFalse(n.namedParameters().get("c_attn.base_layer.weight").requiresGrad());
    }

    @Test
    void mergeEqualsUnmergedAndUnmergeRestores() {
        Net n = new Net(2);
        Variable x = input();
        float[] w0 = ((Conv1D) n.get("c_attn")).weight().data().clone();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(3, 6, "c_attn"), 1);
        LoraConv1D l = (LoraConv1D) n.get("c_attn");
        randomise(l, 5);
        float[] unmerged = run(n, x);
        // The delta is scaling·(B·A)ᵀ in the [in, out] layout.
        Tensor d = l.deltaWeight("default");
        assertArrayEquals(new int[] {IN, OUT}, d.shape().dims());
        float[] a = l.adapterParameters("default").get("lora_A.weight").data(), b = l.adapterParameters("default").get("lora_B.weight").data();
        double expected = 0;
        for (int k = 0; k < 3; k++) expected += b[5 * 3 + k] * a[k * IN + 2];
        assertEquals(2.0 * expected, d.data()[2 * OUT + 5], 1e-6, "delta[in=2, out=5] = scaling·Σ_k B[5,k]·A[k,2]");
        lora.merge();
        float[] merged = run(n, x);
        for (int i = 0; i < merged.length; i++) assertEquals(unmerged[i], merged[i], 1e-5, "element " + i);
        assertTrue(maxAbsDiff(w0, l.baseLayer().weight().data()) > 1e-3, "merge changed W");
        lora.unmerge();
        assertTrue(maxAbsDiff(w0, l.baseLayer().weight().data()) < 1e-6);
        Module plain = lora.mergeAndUnload();
        assertInstanceOf(Conv1D.class, plain.get("c_attn"));
        float[] afterUnload = run(n, x);
        for (int i = 0; i < merged.length; i++) assertEquals(unmerged[i], afterUnload[i], 1e-5, "element " + i);
    }

    @Test
    void loraGradientsThroughConv1DBase() {
        Net n = new Net(3);
        Variable x = input();
        LoraModel.inject(n, LoraConfig.of(2, 4, "c_attn"), 1);
        LoraConv1D l = (LoraConv1D) n.get("c_attn");
        randomise(l, 9);
        Variable a = l.adapterParameters("default").get("lora_A.weight"), b = l.adapterParameters("default").get("lora_B.weight");
        float[] r = randn(new Random(11), ROWS * OUT, 1);
        GradCheck.of("lora on conv1d", () -> Ops.dot(n.forward(x), r)).wrt("lora_A", a).wrt("lora_B", b).run();
        assertNull(l.baseLayer().weight().grad(), "frozen base gets no gradient");
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
