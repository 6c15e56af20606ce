package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.Module;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LoraModelTest {
    static final int VOCAB = 50, DIM = 12, HIDDEN = 20, OUT = 7;
    static final int[] IDS = {3, 7, 7, 0, 49, 12, 5, 33};

    static TinyNet net() {
        return new TinyNet(VOCAB, DIM, HIDDEN, OUT, new SplittableRandom(7));
    }

    static float[] forward(TinyNet n) {
        try (var s = Tape.noGrad()) {
            return n.forward(IDS).data().clone();
        }
    }

    /** Gives every B (and embedding A) non-zero values so the adapter changes the output. */
    static void randomiseAdapter(LoraModel lora, String name, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (LoraLayer l : lora.loraLayers()) {
            if (!l.adapterNames().contains(name)) continue;
            for (Variable v : l.adapterParameters(name).values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextDouble() - 0.5);
            }
        }
    }

    @Test
    void newAdapterLeavesOutputBitIdentical() {
        float[] base = forward(net());
        TinyNet n = net();
        LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2,embed"), 1);
        assertEquals(3, n.namedModules().values().stream().filter(m -> m instanceof LoraLayer).count());
        assertArrayEquals(base, forward(n), "B = 0 (linear) and A = 0 (embedding) must not change a single bit");
    }

    @Test
    void mergeEqualsUnmergedAndUnmergeRestoresWeights() {
        TinyNet n = net();
        float[] w0 = ((Linear) n.get("encoder.fc1")).weight().data().clone();
        float[] e0 = n.embed.get() instanceof dev.lora4j.nn.Embedding e ? e.weight().data().clone() : null;
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2,embed"), 1);
        randomiseAdapter(lora, "default", 11);
        float[] unmerged = forward(n);
        lora.merge();
        float[] merged = forward(n);
        assertClose(unmerged, merged, 1e-5);
        assertTrue(maxAbsDiff(w0, ((LoraLinear) n.get("encoder.fc1")).baseLayer().weight().data()) > 1e-3, "merge changed W");
        lora.unmerge();
        assertClose(w0, ((LoraLinear) n.get("encoder.fc1")).baseLayer().weight().data(), 1e-5);
        assertClose(e0, ((LoraEmbedding) n.get("embed")).baseLayer().weight().data(), 1e-5);
        assertClose(unmerged, forward(n), 1e-5);
    }

    @Test
    void mergeAndUnloadGivesPlainModelWithSameOutput() {
        TinyNet n = net();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(3, 6, "fc1,fc2"), 2);
        randomiseAdapter(lora, "default", 5);
        float[] before = forward(n);
        Module plain = lora.mergeAndUnload();
        assertInstanceOf(Linear.class, plain.get("encoder.fc1"));
        assertFalse(plain.namedParameters().keySet().stream().anyMatch(k -> k.contains("lora")));
        assertClose(before, forward(n), 1e-5);
    }

    @Test
    void frozenWeightsNeverGetGradients() {
        TinyNet n = net();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2"), 1);
        randomiseAdapter(lora, "default", 3);
        Variable loss = Ops.crossEntropy(n.forward(IDS), new int[] {1, 2, 3, 4, 5, 6, 0, 1}, -100);
        Tape.current().backward(loss);
        for (var e : n.namedParameters().entrySet()) {
            boolean lora_ = e.getKey().contains(".lora_");
            assertEquals(lora_, e.getValue().requiresGrad(), e.getKey());
            if (lora_) assertNotNull(e.getValue().grad(), "LoRA parameter got a gradient: " + e.getKey());
            else assertNull(e.getValue().grad(), "frozen parameter must have no gradient buffer: " + e.getKey());
        }
    }

    @Test
    void targetsFollowPeftMatchingRules() {
        TinyNet n = net();
        LoraModel.inject(n, LoraConfig.of(2, 2, "all-linear"), 1);
        assertInstanceOf(LoraLinear.class, n.get("encoder.fc1"));
        assertInstanceOf(LoraLinear.class, n.get("encoder.fc2"));
        assertInstanceOf(Linear.class, n.get("lm_head"), "all-linear leaves the output layer alone");
        assertFalse(n.get("embed") instanceof LoraLayer, "all-linear takes no embeddings");

        TinyNet m = net();
        LoraModel.inject(m, LoraConfig.of(2, 2, "encoder\\.fc[12]"), 1);
        assertInstanceOf(LoraLinear.class, m.get("encoder.fc2"));
        assertInstanceOf(Linear.class, m.get("lm_head"));

        // A name matches whole path components only: "c1" is not "fc1".
        assertThrows(IllegalArgumentException.class, () -> LoraModel.inject(net(), LoraConfig.of(2, 2, "c1"), 1));
    }

    @Test
    void noMatchIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> LoraModel.inject(net(), LoraConfig.of(2, 2, "q_proj,v_proj"), 1));
        assertTrue(e.getMessage().contains("[q_proj, v_proj]"), e.getMessage());
        assertTrue(e.getMessage().contains("fc1") && e.getMessage().contains("lm_head"), "lists what exists: " + e.getMessage());
    }

    @Test
    void trainableParameterCountMatchesShapes() {
        TinyNet n = net();
        long total = n.parameterCount();
        int r = 4;
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(r, 8, "fc1,fc2,embed"), 1);
        long expectedLora = (long) r * (DIM + HIDDEN) + (long) r * (HIDDEN + DIM) + (long) r * (VOCAB + DIM);
        TrainableParameters p = lora.trainableParameters();
        assertEquals(expectedLora, p.trainable());
        assertEquals(total + expectedLora, p.total());
        assertEquals(100.0 * expectedLora / (total + expectedLora), p.percent(), 1e-9);
        assertTrue(p.toString().startsWith("trainable params: " + String.format("%,d", expectedLora) + " || all params: "), p.toString());
        assertEquals(expectedLora, p.byModuleType().get("Linear")[0] + p.byModuleType().get("ParameterDict")[0]);
    }

    @Test
    void biasAndModulesToSaveOptions() {
        TinyNet n = net();
        LoraConfig c = LoraConfig.of(2, 4, "fc1").withBias(LoraConfig.Bias.LORA_ONLY).withModulesToSave(List.of("lm_head"));
        LoraModel lora = LoraModel.inject(n, c, 1);
        Map<String, Variable> p = n.namedParameters();
        assertTrue(p.get("encoder.fc1.base_layer.bias").requiresGrad(), "lora_only: bias of a wrapped layer trains");
        assertFalse(p.get("encoder.fc2.bias").requiresGrad(), "lora_only: other biases stay frozen");
        assertTrue(p.get("lm_head.weight").requiresGrad(), "modules_to_save trains");
        assertFalse(p.get("encoder.fc1.base_layer.weight").requiresGrad());
        assertEquals(List.of(
                "base_model.model.encoder.fc1.lora_A.weight", "base_model.model.encoder.fc1.lora_B.weight",
                "base_model.model.encoder.fc1.bias", "base_model.model.lm_head.weight"),
            List.copyOf(lora.adapterStateDict("default").keySet()));
    }

    @Test
    void modulesToSaveAreNotAlsoWrapped() {
        TinyNet n = net();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(2, 4, "fc1,lm_head").withModulesToSave(List.of("lm_head")), 1);
        assertInstanceOf(Linear.class, n.get("lm_head"), "a module trained in full is not wrapped with LoRA too");
        assertTrue(n.namedParameters().get("lm_head.weight").requiresGrad());
        assertTrue(lora.adapterStateDict("default").containsKey("base_model.model.lm_head.weight"));
        assertFalse(lora.adapterStateDict("default").keySet().stream().anyMatch(k -> k.contains("lm_head.lora")));
    }

    @Test
    void severalNamedAdapters() {
        TinyNet n = net();
        float[] base = forward(n);
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2"), 1);
        randomiseAdapter(lora, "default", 21);
        float[] first = forward(n);
        lora.addAdapter("other", LoraConfig.of(2, 2, "fc2"));
        randomiseAdapter(lora, "other", 22);
        assertArrayEquals(first, forward(n), "adding an adapter does not change which one is active");
        lora.setActiveAdapter("other");
        float[] second = forward(n);
        assertTrue(maxAbsDiff(first, second) > 1e-3);
        assertTrue(n.namedParameters().get("encoder.fc2.lora_A.other.weight").requiresGrad());
        assertFalse(n.namedParameters().get("encoder.fc2.lora_A.default.weight").requiresGrad(), "inactive adapter is frozen");
        try (var s = lora.disableAdapters()) {
            assertArrayEquals(base, forward(n), "disabled: the base model alone");
        }
        assertArrayEquals(second, forward(n));
        lora.deleteAdapter("other");
        assertEquals("default", lora.activeAdapter());
        assertArrayEquals(first, forward(n));
        assertFalse(n.namedParameters().keySet().stream().anyMatch(k -> k.contains(".other")));
        assertThrows(IllegalArgumentException.class, () -> lora.setActiveAdapter("other"));
    }

    @Test
    void rsloraScaling() {
        assertEquals(16f / 4f, LoraConfig.of(4, 16, "x").scaling());
        assertEquals(16f / 16f, LoraConfig.of(16, 16, "x").scaling());
        assertEquals((float) (16 / Math.sqrt(16)), LoraConfig.of(16, 16, "x").withRslora(true).scaling());
    }

    static void assertClose(float[] expected, float[] actual, double rel) {
        assertEquals(expected.length, actual.length);
        double scale = 0;
        for (float v : expected) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], rel * Math.max(scale, 1e-6), "element " + i);
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
