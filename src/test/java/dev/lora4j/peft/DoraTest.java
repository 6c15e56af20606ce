package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DoRA against PyTorch's formula, by finite differences, merged against unmerged, and saved as Peft saves it. */
class DoraTest {
    @TempDir
    Path dir;

    /** One linear layer under the name "proj". */
    static final class One extends Module {
        final Slot<LinearLayer> proj;

        One(LinearLayer l) {
            proj = register("proj", l);
        }

        Variable forward(Variable x) {
            return proj.get().forward(x);
        }
    }

    private static float[] run(One m, Variable x) {
        try (var s = Tape.noGrad()) {
            return m.forward(x).data().clone();
        }
    }

    /** The fixture's layer with its DoRA adapter (scaling 2 = alpha 6 / r 3) set to the fixture's A, B and m. */
    private static One fixtureModel(JsonNode f) {
        int out = f.get("out").asInt(), in = f.get("in").asInt(), r = f.get("r").asInt();
        One m = new One(Linear.of(Tensor.of(VariantFixtures.floats(f, "weight"), out, in), Tensor.of(VariantFixtures.floats(f, "bias"), out)));
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(r, 6, "proj").withDora(true), 1);
        var p = lora.loraLayers().get(0).adapterParameters("default");
        System.arraycopy(VariantFixtures.floats(f, "lora_A"), 0, p.get("lora_A.weight").data(), 0, r * in);
        System.arraycopy(VariantFixtures.floats(f, "lora_B"), 0, p.get("lora_B.weight").data(), 0, out * r);
        System.arraycopy(VariantFixtures.floats(f, "magnitude"), 0, p.get("lora_magnitude_vector").data(), 0, out);
        return m;
    }

    @Test
    void forwardAndMergeMatchPyTorch() throws IOException {
        JsonNode f = VariantFixtures.load("dora");
        One m = fixtureModel(f);
        m.train(false);
        Variable x = Variable.constant(Tensor.of(VariantFixtures.floats(f, "x"), f.get("rows").asInt(), f.get("in").asInt()));
        float[] unmerged = run(m, x);
        assertArrayEquals(VariantFixtures.floats(f, "y"), unmerged, 1e-5f, "DoRA forward == PyTorch");

        LoraLinear layer = (LoraLinear) m.proj.get();
        float[] w0 = layer.baseLayer().weight().data().clone();
        layer.merge(java.util.List.of("default"));
        assertArrayEquals(VariantFixtures.floats(f, "merged_weight"), layer.baseLayer().weight().data(), 1e-5f, "merged W == PyTorch");
        assertArrayEquals(unmerged, run(m, x), 1e-5f, "merged forward == unmerged forward");
        layer.unmerge();
        assertArrayEquals(w0, layer.baseLayer().weight().data(), 1e-5f, "unmerge restores W");
        assertArrayEquals(unmerged, run(m, x), 1e-5f);
    }

    @Test
    void magnitudeStartsAtTheRowNormsSoTheModelStartsAtTheBase() {
        SplittableRandom rnd = new SplittableRandom(3);
        One m = new One(Linear.random(5, 4, true, rnd));
        Variable x = Variable.constant(Tensor.of(GradCheck.randn(new java.util.Random(1), 15, 1), 3, 5));
        float[] base = run(m, x);
        float[] w = ((Linear) m.proj.get()).weight().data().clone();
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(2, 4, "proj").withDora(true), 2);
        float[] mag = lora.loraLayers().get(0).adapterParameters("default").get("lora_magnitude_vector").data();
        for (int o = 0; o < 4; o++) {
            double s = 0;
            for (int i = 0; i < 5; i++) s += w[o * 5 + i] * w[o * 5 + i];
            assertEquals(Math.sqrt(s), mag[o], 1e-6, "m[" + o + "] = ||W[o,:]||");
        }
        assertArrayEquals(base, run(m, x), 1e-6f, "B = 0: DoRA output == base output");
        assertEquals(3, lora.trainableVariables().size(), "A, B and m train");
    }

    @Test
    void gradientsMatchFiniteDifferencesWithTheNormHeldConstant() {
        LoraTrainingTest.Mlp net = new LoraTrainingTest.Mlp(new SplittableRandom(1));
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(3, 6, "fc2").withDora(true).withDropout(0.2f), 9);
        LoraModelTest.randomiseAdapter(lora, "default", 4);
        for (LoraLayer l : lora.loraLayers()) {
            float[] m = l.adapterParameters("default").get("lora_magnitude_vector").data();
            for (int o = 0; o < m.length; o++) m[o] = 0.5f + 0.1f * (o % 7);
        }
        Variable x = LoraTrainingTest.input(2, 5);
        int[] labels = {0, 5, 2, 2, 1};
        net.train(false);
        // The magnitude's gradient is exact with the norm live (the norm does not depend on m).
        GradCheck mags = GradCheck.of("DoRA magnitude", () -> Ops.crossEntropy(net.forward(x), labels, -100)).step(3e-3);
        net.namedParameters().forEach((k, v) -> { if (k.contains("lora_magnitude_vector")) mags.wrt(k, v); });
        mags.run();
        // A and B: the backward treats ‖W + s·B·A‖ as a constant (DoRA §4.3, Peft's detach), so hold it.
        lora.loraLayers().forEach(l -> ((LoraLinearBase<?>) l).holdDoraNorms("default", true));
        GradCheck all = GradCheck.of("DoRA, norm held", () -> Ops.crossEntropy(net.forward(x), labels, -100)).step(3e-3);
        net.namedParameters().forEach((k, v) -> { if (v.requiresGrad()) all.wrt(k, v); });
        all.run();
    }

    @Test
    void conv1dMergeEqualsUnmerged() {
        SplittableRandom rnd = new SplittableRandom(5);
        float[] w = new float[6 * 4];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        One m = new One(new Conv1D(Variable.parameter(Tensor.of(w, 6, 4)), Variable.parameter(Tensor.zeros(4))));
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(2, 4, "proj").withDora(true), 2);
        LoraModelTest.randomiseAdapter(lora, "default", 6);
        float[] mag = lora.loraLayers().get(0).adapterParameters("default").get("lora_magnitude_vector").data();
        for (int o = 0; o < mag.length; o++) mag[o] = 1 + o;
        Variable x = Variable.constant(Tensor.of(GradCheck.randn(new java.util.Random(2), 18, 1), 3, 6));
        float[] unmerged = run(m, x);
        lora.merge();
        assertArrayEquals(unmerged, run(m, x), 1e-5f);
        lora.unmerge();
        assertArrayEquals(w, ((Conv1D) ((LoraConv1D) m.proj.get()).baseLayer()).weight().data(), 1e-5f);
    }

    @Test
    void savedAsPeftSavesDoraAndLoadsBack() throws IOException {
        JsonNode f = VariantFixtures.load("dora");
        int out = f.get("out").asInt(), in = f.get("in").asInt();
        One fresh = new One(Linear.of(Tensor.of(VariantFixtures.floats(f, "weight"), out, in), Tensor.of(VariantFixtures.floats(f, "bias"), out)));
        LoraModel peft = LoraModel.inject(fresh, LoraConfig.of(3, 6, "proj").withDora(true), 1);
        LoraModelTest.randomiseAdapter(peft, "default", 12);
        PeftAdapterWriter.save(peft, "default", dir, "SEQ_CLS", "x");

        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapterWriter.CONFIG_FILE).toFile());
        assertTrue(cfg.get("use_dora").asBoolean());
        try (SafetensorsFile sf = SafetensorsFile.open(dir.resolve(PeftAdapterWriter.WEIGHTS_FILE))) {
            assertEquals(java.util.Set.of("base_model.model.proj.lora_A.weight", "base_model.model.proj.lora_B.weight",
                "base_model.model.proj.lora_magnitude_vector"), java.util.Set.copyOf(sf.names()));
            assertArrayEquals(new long[] {out}, sf.info("base_model.model.proj.lora_magnitude_vector").shape());
        }
        var summary = dev.lora4j.inspect.AdapterSummary.read(dir);
        assertEquals(1, summary.modules().size(), "inspect lists the magnitude with its layer: " + summary.modules());
        assertEquals("proj", summary.modules().get(0).path());
        assertEquals(3, summary.modules().get(0).rank());
        One other = new One(Linear.of(Tensor.of(VariantFixtures.floats(f, "weight"), out, in), Tensor.of(VariantFixtures.floats(f, "bias"), out)));
        LoraModel loaded = PeftAdapterReader.load(other, dir, "default", 5);
        assertTrue(loaded.configs().get("default").useDora());
        Variable x = Variable.constant(Tensor.of(VariantFixtures.floats(f, "x"), f.get("rows").asInt(), in));
        fresh.train(false);
        other.train(false);
        assertArrayEquals(run(fresh, x), run(other, x), "loaded DoRA adapter computes what the saved one did");
    }
}
