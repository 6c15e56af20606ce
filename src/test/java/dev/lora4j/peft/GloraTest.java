package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GLoRA (Chavan et al. 2023): the forward against the paper's formula computed by hand, gradients by finite
 * differences, merge (re-parameterisation into W and b) against the unmerged layer, and the saved file.
 */
class GloraTest {
    @TempDir
    Path dir;

    static void randomise(LoraModel lora, String name, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters(name).values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) rnd.nextGaussian() * 0.3f;
            }
        }
    }

    private static Tensor random(SplittableRandom rnd, int... dims) {
        Tensor t = Tensor.zeros(dims);
        for (int i = 0; i < t.size(); i++) t.data()[i] = (float) rnd.nextGaussian() * 0.5f;
        return t;
    }

    /** f(x) = (W0 + W0⊙(Au·Ad) + Bu·Bd)·x + W0·C + D⊙b0 + E + b0, in doubles, from the raw arrays. */
    private static double[] oracle(float[] x, int rows, float[] w0, float[] b0, Map<String, Variable> p, int out, int in, int r) {
        float[] au = p.get("glora_Au").data(), ad = p.get("glora_Ad").data(), bu = p.get("glora_Bu").data(), bd = p.get("glora_Bd").data();
        float[] c = p.get("glora_C").data(), d = p.get("glora_D").data(), e = p.get("glora_E").data();
        double[] y = new double[rows * out];
        for (int o = 0; o < out; o++) {
            double bias = (b0 == null ? 0 : b0[o]) * (1 + (double) d[o]) + e[o];
            for (int i = 0; i < in; i++) bias += (double) w0[o * in + i] * c[i];
            double[] w = new double[in];
            for (int i = 0; i < in; i++) {
                double a = 0, b = 0;
                for (int k = 0; k < r; k++) {
                    a += (double) au[o * r + k] * ad[k * in + i];
                    b += (double) bu[o * r + k] * bd[k * in + i];
                }
                w[i] = w0[o * in + i] * (1 + a) + b;
            }
            for (int t = 0; t < rows; t++) {
                double s = bias;
                for (int i = 0; i < in; i++) s += w[i] * x[t * in + i];
                y[t * out + o] = s;
            }
        }
        return y;
    }

    @Test
    void startsAtTheBaseAndComputesThePapersFormulaWithAndWithoutBias() {
        for (boolean bias : new boolean[] {true, false}) {
            SplittableRandom rnd = new SplittableRandom(5);
            int in = 7, out = 5, r = 3, rows = 4;
            Linear base = Linear.random(in, out, bias, rnd);
            float[] w0 = base.weight().data().clone(), b0 = bias ? base.bias().data().clone() : null;
            GloraLinear g = new GloraLinear(base);
            g.addAdapter("default", LoraConfig.of(r, 16, "x"), rnd);
            Tensor x = random(rnd, rows, in);
            try (var s = Tape.noGrad()) {
                assertArrayEquals(base.forward(Variable.constant(x)).data(), g.forward(Variable.constant(x)).data(), 0f,
                    "A_u, B_u, C, D, E start at zero: exactly the base");
            }
            for (Variable v : g.adapterParameters("default").values()) {
                for (int i = 0; i < v.size(); i++) v.data()[i] = (float) rnd.nextGaussian() * 0.3f;
            }
            double[] want = oracle(x.data(), rows, w0, b0, g.adapterParameters("default"), out, in, r);
            float[] got;
            try (var s = Tape.noGrad()) {
                got = g.forward(Variable.constant(x)).data();
            }
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-4, "bias " + bias + ", y[" + i + "]");
        }
    }

    /** Against tools/make_variant_fixtures.py (PyTorch, float64): the forward and the re-parameterised W' and b'. */
    @Test
    void forwardAndMergeMatchThePyTorchFixture() throws Exception {
        JsonNode f = VariantFixtures.load("glora");
        int out = f.get("out").asInt(), in = f.get("in").asInt(), r = f.get("r").asInt(), rows = f.get("rows").asInt();
        GloraLinear g = new GloraLinear(Linear.of(Tensor.of(VariantFixtures.floats(f, "weight"), out, in),
            Tensor.of(VariantFixtures.floats(f, "bias"), out)));
        g.addAdapter("default", LoraConfig.of(r, 16, "x"), new SplittableRandom(1));
        g.adapterParameters("default").forEach((k, v) -> System.arraycopy(VariantFixtures.floats(f, k), 0, v.data(), 0, v.size()));
        Variable x = Variable.constant(Tensor.of(VariantFixtures.floats(f, "x"), rows, in));
        try (var s = Tape.noGrad()) {
            assertArrayEquals(VariantFixtures.floats(f, "y"), g.forward(x).data(), 1e-4f, "unmerged forward");
            g.merge(List.of("default"));
            assertArrayEquals(VariantFixtures.floats(f, "merged_weight"), g.baseLayer().weight().data(), 1e-5f, "W'");
            assertArrayEquals(VariantFixtures.floats(f, "merged_bias"), g.baseLayer().bias().data(), 1e-5f, "b'");
            assertArrayEquals(VariantFixtures.floats(f, "y"), g.forward(x).data(), 1e-4f, "merged forward");
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        SplittableRandom rnd = new SplittableRandom(9);
        GloraLinear g = new GloraLinear(Linear.random(4, 3, true, rnd));
        g.addAdapter("default", LoraConfig.of(2, 16, "x"), rnd);
        Map<String, Variable> p = g.adapterParameters("default");
        for (Variable v : p.values()) for (int i = 0; i < v.size(); i++) v.data()[i] = (float) rnd.nextGaussian() * 0.5f;
        Variable x = Variable.parameter(random(rnd, 2, 4));
        float[] w = random(rnd, 2, 3).data();
        GradCheck check = GradCheck.of("glora", () -> Ops.dot(g.forward(x), w)).wrt("x", x).tolerance(1e-2, 2e-3);
        p.forEach(check::wrt);
        check.run();
    }

    @Test
    void mergeReparameterisesIntoWeightAndBiasAndUnmergeRestoresTheBase() {
        TinyNet n = LoraModelTest.net();
        // fc1 has a bias, lm_head has none: there merging must give it one.
        LoraModel lora = LoraModel.injectGlora(n, "default", LoraConfig.of(3, 16, "fc1,lm_head"), 1);
        assertArrayEquals(LoraModelTest.forward(LoraModelTest.net()), LoraModelTest.forward(n), 0f, "starts at the base");
        randomise(lora, "default", 3);
        GloraLinear head = (GloraLinear) n.get("lm_head");
        float[] w0 = head.baseLayer().weight().data().clone();
        float[] unmerged = LoraModelTest.forward(n);
        lora.merge();
        assertEquals(List.of("default"), head.mergedAdapters());
        assertArrayEquals(unmerged, LoraModelTest.forward(n), 1e-4f, "merged == unmerged");
        assertNotEquals(0f, head.baseLayer().bias().data()[0], "W0·C + E went into the (new) bias");
        lora.unmerge();
        assertArrayEquals(w0, head.baseLayer().weight().data(), 1e-5f, "unmerge gives W0 back");
        assertArrayEquals(new float[head.outFeatures()], head.baseLayer().bias().data(), 1e-5f);
        assertArrayEquals(unmerged, LoraModelTest.forward(n), 1e-4f);
        var unloaded = (TinyNet) lora.mergeAndUnload();
        assertInstanceOf(Linear.class, unloaded.get("lm_head"));
        assertArrayEquals(unmerged, LoraModelTest.forward(unloaded), 1e-4f, "merged and unloaded: a plain Linear computes it");
    }

    @Test
    void onlyTheAdapterTrainsAndOtherLoraKindsDoNotMixIn() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.injectGlora(n, "default", LoraConfig.of(2, 16, "fc1,fc2"), 1);
        var trainable = new TreeMap<String, Integer>();
        n.namedParameters().forEach((k, v) -> { if (v.requiresGrad()) trainable.put(k, v.size()); });
        assertEquals(14, trainable.size(), "7 tensors in each of 2 layers: " + trainable.keySet());
        assertTrue(trainable.keySet().stream().allMatch(k -> k.contains(".glora_")), trainable.keySet().toString());
        assertTrue(lora.isGlora("default"));
        assertThrows(IllegalArgumentException.class, () -> lora.addAdapter("plain", LoraConfig.of(2, 4, "fc1")));
        assertThrows(IllegalArgumentException.class, () -> LoraModel.injectGlora(LoraModelTest.net(), "g", LoraConfig.of(2, 4, "embed"), 1),
            "GLoRA wraps Linear only");
    }

    @Test
    void savesPeftStyleKeysAndLoadsBackToTheSameOutputs() throws Exception {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.injectGlora(n, "default", LoraConfig.of(3, 16, "fc1,fc2"), 1);
        randomise(lora, "default", 4);
        float[] trained = LoraModelTest.forward(n);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "tiny");
        JsonNode c = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("GLORA", c.get("peft_type").asText());
        assertEquals(3, c.get("r").asInt());
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            String k = LoraModel.KEY_PREFIX + "encoder.fc1.";
            int in = n.encoder.get().fc1.get().inFeatures(), out = n.encoder.get().fc1.get().outFeatures();
            assertArrayEquals(new long[] {out, 3}, f.info(k + "glora_Au").shape());
            assertArrayEquals(new long[] {3, in}, f.info(k + "glora_Ad").shape());
            assertArrayEquals(new long[] {out, 3}, f.info(k + "glora_Bu").shape());
            assertArrayEquals(new long[] {3, in}, f.info(k + "glora_Bd").shape());
            assertArrayEquals(new long[] {in}, f.info(k + "glora_C").shape());
            assertArrayEquals(new long[] {out}, f.info(k + "glora_D").shape());
            assertArrayEquals(new long[] {out}, f.info(k + "glora_E").shape());
            assertEquals(14, f.names().size());
        }
        TinyNet fresh = LoraModelTest.net();
        LoraModel loaded = PeftAdapterReader.load(fresh, dir, "default", 99);
        assertTrue(loaded.isGlora("default"));
        assertArrayEquals(trained, LoraModelTest.forward(fresh), 0f, "the reloaded adapter computes the same");
        assertThrows(IllegalArgumentException.class, () -> PeftAdapterReader.loadInto(loaded, dir, "again"));
    }
}
