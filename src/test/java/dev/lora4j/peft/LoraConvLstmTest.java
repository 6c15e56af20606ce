package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Lstm;
import dev.lora4j.nn.LstmLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.nn.conv.Conv1d;
import dev.lora4j.nn.conv.Conv2d;
import dev.lora4j.nn.conv.ConvLayer;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA on Conv2d, Conv1d and LSTM: Peft's keys and shapes, merge = unmerged, gradients, save and load. */
class LoraConvLstmTest {
    @TempDir
    Path dir;

    /** A conv, a 1-D conv over the rows of its output, and an LSTM over the same, each under a torch-like name. */
    static final class Net extends Module {
        final Slot<ConvLayer> conv;
        final Slot<ConvLayer> temporal;
        final Slot<LstmLayer> lstm;

        Net(long seed) {
            SplittableRandom rnd = new SplittableRandom(seed);
            // Strided, padded and dilated, so the LoRA branch must follow the base geometry to line up.
            conv = register("conv", new Conv2d(Variable.parameter(dev.lora4j.nn.Init.uniform(rnd, 0.4f, 4, 2, 3, 3)),
                Variable.parameter(dev.lora4j.nn.Init.uniform(rnd, 0.4f, 4)), new int[] {2, 1}, new int[] {1, 2}, new int[] {1, 2}));
            temporal = register("temporal", Conv1d.random(4, 3, 3, 1, 1, true, rnd));
            lstm = register("lstm", Lstm.random(3, 4, 2, true, rnd));
        }

        /** x [n, 2, 6, 5] -> conv [n, 4, 3, 5] -> rows as sequences [n·3, 4, 5] -> temporal [n·3, 3, 5] -> LSTM over 5 steps. */
        Variable forward(Variable x) {
            Variable c = conv.get().forward(x);
            int n = c.shape().dim(0);
            // [n, 4, 3, 5] read as [n·3, 4, 5]: a reinterpretation of the elements is enough for these checks.
            Variable seq = dev.lora4j.autograd.ConvOps.reshape(c, n * 3, 4, 5);
            Variable t = temporal.get().forward(seq);
            Variable steps = dev.lora4j.autograd.ConvOps.reshape(t, n * 3, 5, 3);
            return lstm.get().forward(steps);
        }
    }

    static Variable input(long seed) {
        return Variable.constant(Tensor.of(GradCheck.randn(new Random(seed), 2 * 2 * 6 * 5, 1.0), 2, 2, 6, 5));
    }

    static void randomise(LoraModel lora) {
        Random r = new Random(9);
        for (Variable v : lora.trainableVariables()) {
            float[] d = v.data();
            for (int i = 0; i < d.length; i++) d[i] = (float) (r.nextGaussian() * 0.3);
        }
    }

    @Test
    void keysAndShapesFollowPeft() {
        Net net = new Net(1);
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(2, 4, "conv,temporal,lstm"), 5);
        Map<String, Tensor> sd = lora.adapterStateDict("default");
        assertArrayEquals(new int[] {2, 2, 3, 3}, sd.get("base_model.model.conv.lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {4, 2, 1, 1}, sd.get("base_model.model.conv.lora_B.weight").shape().dims());
        assertArrayEquals(new int[] {2, 4, 3}, sd.get("base_model.model.temporal.lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {3, 2, 1}, sd.get("base_model.model.temporal.lora_B.weight").shape().dims());
        assertArrayEquals(new int[] {2, 3}, sd.get("base_model.model.lstm.weight_ih_l0.lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {16, 2}, sd.get("base_model.model.lstm.weight_ih_l0.lora_B.weight").shape().dims());
        assertArrayEquals(new int[] {2, 8}, sd.get("base_model.model.lstm.weight_ih_l1_reverse.lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {2, 4}, sd.get("base_model.model.lstm.weight_hh_l1.lora_A.weight").shape().dims());
        assertEquals(4 + 8 * 2, sd.size(), "2 convs x 2 + 8 LSTM matrices x 2");
        assertEquals(sd.values().stream().mapToLong(Tensor::size).sum(), lora.trainableParameters().trainable());
    }

    @Test
    void allLinearLeavesConvolutionsAndLstmsAloneAsPeftDoes() {
        var e = assertThrows(IllegalArgumentException.class, () -> LoraModel.inject(new Net(1), LoraConfig.of(2, 4, "all-linear"), 5));
        assertTrue(e.getMessage().contains("[conv, temporal, lstm]"), e.getMessage());
    }

    @Test
    void zeroBIsTheBaseAndMergeEqualsUnmerged() {
        Net net = new Net(2);
        Variable x = input(3);
        float[] base;
        try (var s = Tape.noGrad()) {
            base = net.forward(x).data();
        }
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "conv,temporal,lstm"), 5);
        try (var s = Tape.noGrad()) {
            assertArrayEquals(base, net.forward(x).data(), 0f, "B = 0 must leave the model unchanged");
            randomise(lora);
            float[] unmerged = net.forward(x).data();
            assertTrue(maxDiff(base, unmerged) > 1e-2, "the randomised adapter must change the output");
            lora.merge();
            float[] merged = net.forward(x).data();
            assertTrue(maxDiff(unmerged, merged) < 1e-5, "merged differs from unmerged by " + maxDiff(unmerged, merged));
            lora.unmerge();
            assertTrue(maxDiff(base, withDisabled(lora, net, x)) < 1e-5, "unmerge restores the base weights");
            assertTrue(maxDiff(unmerged, net.forward(x).data()) < 1e-5);
        }
    }

    static float[] withDisabled(LoraModel lora, Net net, Variable x) {
        try (var d = lora.disableAdapters()) {
            return net.forward(x).data();
        }
    }

    @Test
    void conv2dMergeAloneMatchesWithStrideAndDilation() {
        Net net = new Net(4);
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(2, 2, "conv"), 5);
        randomise(lora);
        Variable x = input(6);
        try (var s = Tape.noGrad()) {
            float[] unmerged = net.conv.get().forward(x).data();
            lora.merge();
            float[] merged = net.conv.get().forward(x).data();
            assertTrue(maxDiff(unmerged, merged) < 1e-5);
        }
    }

    @Test
    void gradientsOfAdapterWeights() {
        Net net = new Net(7);
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(2, 4, "conv,temporal,lstm"), 5);
        randomise(lora);
        Variable x = input(8);
        float[] probe = GradCheck.randn(new Random(1), 6 * 5 * 8, 1.0);
        GradCheck check = GradCheck.of("lora conv+lstm", () -> Ops.dot(net.forward(x), probe)).step(3e-3);
        Map<String, Variable> params = net.namedParameters();
        for (String k : List.of("conv.lora_A.default.weight", "conv.lora_B.default.weight", "temporal.lora_A.default.weight",
            "lstm.lora_A.default.weight_hh_l0", "lstm.lora_B.default.weight_ih_l1_reverse")) {
            check.wrt(k, params.get(k));
        }
        check.run();
        assertNull(((Conv2d) ((LoraConv) net.conv.get()).baseLayer()).weight().grad(), "the frozen base gets no gradient");
    }

    @Test
    void fusedConvBranchEqualsTheComposedOne() {
        Net net = new Net(12);
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "conv,temporal"), 5);
        randomise(lora);
        Variable x = input(13);
        float[] probe = GradCheck.randn(new Random(2), 6 * 5 * 8, 1.0);
        float[][] fused = outputAndGrads(net, lora, x, probe), composed;
        try {
            LoraConv.fuse = false;
            composed = outputAndGrads(net, lora, x, probe);
        } finally {
            LoraConv.fuse = true;
        }
        for (int i = 0; i < fused.length; i++) assertTrue(maxDiff(fused[i], composed[i]) < 1e-5, "part " + i + " differs by " + maxDiff(fused[i], composed[i]));
    }

    static float[][] outputAndGrads(Net net, LoraModel lora, Variable x, float[] probe) {
        List<Variable> params = lora.trainableVariables();
        params.forEach(Variable::clearGrad);
        Variable y = net.forward(x);
        Tape.current().backward(Ops.dot(y, probe));
        float[][] out = new float[params.size() + 1][];
        out[0] = y.data().clone();
        for (int i = 0; i < params.size(); i++) out[i + 1] = params.get(i).grad().clone();
        return out;
    }

    @Test
    void savedAdapterLoadsBackIntoAFreshModel() throws Exception {
        Net net = new Net(10);
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(2, 4, "conv,temporal,lstm"), 5);
        randomise(lora);
        Variable x = input(11);
        float[] expected;
        try (var s = Tape.noGrad()) {
            expected = net.forward(x).data();
        }
        PeftAdapterWriter.save(lora, "default", dir, "FEATURE_EXTRACTION", "tiny-net");
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(PeftAdapterWriter.WEIGHTS_FILE))) {
            assertTrue(f.names().contains("base_model.model.lstm.weight_hh_l0_reverse.lora_B.weight"), f.names().toString());
        }
        Net fresh = new Net(10);
        PeftAdapterReader.load(fresh, dir, "default", 99);
        try (var s = Tape.noGrad()) {
            assertArrayEquals(expected, fresh.forward(x).data(), 0f);
        }
    }

    static float maxDiff(float[] a, float[] b) {
        float m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
