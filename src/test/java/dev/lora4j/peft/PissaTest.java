package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PiSSA: the SVD split against PyTorch, the model unchanged at init, and the converted adapter on the original base. */
class PissaTest {
    @TempDir
    Path dir;

    private static float[] run(DoraTest.One m, Variable x) {
        try (var s = Tape.noGrad()) {
            return m.forward(x).data().clone();
        }
    }

    @Test
    void splitMatchesPyTorchsSvd() throws IOException {
        JsonNode f = VariantFixtures.load("pissa");
        int out = f.get("out").asInt(), in = f.get("in").asInt(), r = f.get("r").asInt();
        float scaling = (float) f.get("scaling").asDouble();
        DoraTest.One m = new DoraTest.One(Linear.of(Tensor.of(VariantFixtures.floats(f, "weight"), out, in), null));
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(r, scaling * r, "proj").withInit(LoraConfig.Init.PISSA), 1);
        LoraLinear layer = (LoraLinear) lora.loraLayers().get(0);
        assertArrayEquals(VariantFixtures.floats(f, "scaled_BA"), layer.deltaWeight("default").data(), 1e-5f, "scaling·B·A = top-r part of W");
        assertArrayEquals(VariantFixtures.floats(f, "residual"), layer.baseLayer().weight().data(), 1e-5f, "base keeps W − scaling·B·A");
    }

    private static DoraTest.One original(long seed) {
        return new DoraTest.One(Linear.random(8, 6, true, new SplittableRandom(seed)));
    }

    @Test
    void startsAtTheBaseAndSavesAPlainLoraForTheOriginalBase() throws IOException {
        for (boolean rslora : new boolean[] {false, true}) {
            Variable x = Variable.constant(Tensor.of(GradCheck.randn(new Random(3), 5 * 8, 1), 5, 8));
            DoraTest.One m = original(11);
            float[] base = run(m, x);
            LoraModel lora = LoraModel.inject(m, LoraConfig.of(2, 8, "proj").withRslora(rslora).withInit(LoraConfig.Init.PISSA), 1);
            assertArrayEquals(base, run(m, x), 1e-5f, "at init residual base + adapter == original base");

            // "Training": move A and B away from their initial values.
            var p = lora.loraLayers().get(0).adapterParameters("default");
            SplittableRandom rnd = new SplittableRandom(8);
            for (Variable v : p.values()) for (int i = 0; i < v.size(); i++) v.data()[i] += (float) (0.3 * (rnd.nextDouble() - 0.5));
            float[] trained = run(m, x);
            PeftAdapterWriter.save(lora, "default", dir, "SEQ_CLS", "x");

            JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapterWriter.CONFIG_FILE).toFile());
            assertEquals(4, cfg.get("r").asInt(), "rank 2r");
            assertEquals(rslora ? 8 * Math.sqrt(2) : 16, cfg.get("lora_alpha").asDouble(), 1e-5, "alpha keeps the scaling");
            assertTrue(cfg.get("init_lora_weights").asBoolean(), "a plain LoRA init, as Peft writes the converted config");
            try (SafetensorsFile sf = SafetensorsFile.open(dir.resolve(PeftAdapterWriter.WEIGHTS_FILE))) {
                assertArrayEquals(new long[] {4, 8}, sf.info("base_model.model.proj.lora_A.weight").shape());
                assertArrayEquals(new long[] {6, 4}, sf.info("base_model.model.proj.lora_B.weight").shape());
            }
            DoraTest.One fresh = original(11);
            LoraModel loaded = PeftAdapterReader.load(fresh, dir, "default", 2);
            assertEquals(lora.configs().get("default").scaling(), loaded.configs().get("default").scaling(), 1e-6f);
            assertArrayEquals(trained, run(fresh, x), 1e-5f, "original base + converted adapter == residual base + trained adapter");
        }
    }
}
