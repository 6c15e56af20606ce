package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.peft.LoraConfig.Bias;
import dev.lora4j.peft.LoraConfig.Init;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adapters saved as Peft saves them load back bit for bit; everything that does not fit is a clear error. */
class PeftAdapterReaderTest {
    @TempDir
    Path dir;

    /** Injects {@code c}, randomises every adapter weight (and the saved extras), saves it; returns the model. */
    private LoraModel saved(LoraConfig c) throws IOException {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, c, 3);
        LoraModelTest.randomiseAdapter(lora, "default", 8);
        // Perturb saved non-LoRA weights too, so a load that skipped them would be caught.
        lora.adapterVariables("default").forEach((k, v) -> {
            if (!k.contains("lora_")) for (int i = 0; i < v.data().length; i++) v.data()[i] += 0.25f * ((i % 5) - 2);
        });
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "x");
        return lora;
    }

    private static void assertSameAdapter(LoraModel expected, LoraModel actual) {
        Map<String, Variable> e = expected.adapterVariables("default"), a = actual.adapterVariables("default");
        assertEquals(e.keySet(), a.keySet());
        e.forEach((k, v) -> assertArrayEquals(v.data(), a.get(k).data(), k));
    }

    private LoraModel roundTrip(LoraConfig c) throws IOException {
        LoraModel original = saved(c);
        TinyNet fresh = LoraModelTest.net();
        LoraModel loaded = PeftAdapterReader.load(fresh, dir, "default", 99);
        assertEquals(c, loaded.configs().get("default"));
        assertEquals("default", loaded.activeAdapter());
        assertSameAdapter(original, loaded);
        // Evaluation mode: dropout would otherwise draw different masks in the two models.
        original.model().train(false);
        fresh.train(false);
        assertArrayEquals(LoraModelTest.forward((TinyNet) original.model()), LoraModelTest.forward(fresh),
            "loaded model computes exactly what the saved one did");
        return loaded;
    }

    @Test
    void roundTripLinearTargets() throws IOException {
        LoraModel loaded = roundTrip(LoraConfig.of(4, 8, "fc1,fc2").withDropout(0.05f));
        assertTrue(loaded.trainableVariables().size() == 4, "exactly the adapter's A and B train after loading");
    }

    @Test
    void roundTripModulesToSaveAndLoraOnlyBias() throws IOException {
        roundTrip(LoraConfig.of(4, 6.5f, "fc1,fc2").withModulesToSave(List.of("lm_head")).withBias(Bias.LORA_ONLY)
            .withRslora(true));
    }

    @Test
    void roundTripEmbeddingTargetAndRegex() throws IOException {
        roundTrip(LoraConfig.of(3, 8, "embed|encoder\\.fc2").withInit(Init.GAUSSIAN));
    }

    @Test
    void loadsTheOlderKeyFormWithTheAdapterName() throws IOException {
        LoraModel original = saved(LoraConfig.of(4, 8, "embed,fc1"));
        Map<String, Tensor> renamed = new LinkedHashMap<>();
        original.adapterStateDict("default").forEach((k, v) -> renamed.put(
            k.replace("lora_A.weight", "lora_A.default.weight").replace("lora_B.weight", "lora_B.default.weight")
                .replaceAll("(lora_embedding_[AB])$", "$1.default"), v));
        assertTrue(renamed.containsKey("base_model.model.embed.lora_embedding_A.default"));
        SafetensorsWriter.write(dir.resolve(PeftAdapterWriter.WEIGHTS_FILE), renamed, Map.of());
        TinyNet fresh = LoraModelTest.net();
        PeftAdapterReader.load(fresh, dir, "default", 1);
        assertArrayEquals(LoraModelTest.forward((TinyNet) original.model()), LoraModelTest.forward(fresh));
    }

    @Test
    void loadIntoAddsASecondAdapterAndActivatesIt() throws IOException {
        LoraModel original = saved(LoraConfig.of(4, 8, "fc1,fc2"));
        float[] expected = LoraModelTest.forward((TinyNet) original.model());
        TinyNet fresh = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(fresh, LoraConfig.of(2, 4, "fc2"), 5);
        PeftAdapterReader.loadInto(lora, dir, "loaded");
        assertEquals("loaded", lora.activeAdapter());
        assertArrayEquals(expected, LoraModelTest.forward(fresh));
    }

    @Test
    void parsesTheConfigPeft013Writes() throws IOException {
        Files.writeString(dir.resolve("adapter_config.json"), """
            {
              "alpha_pattern": {},
              "auto_mapping": null,
              "base_model_name_or_path": "meta-llama/Llama-3.2-1B",
              "bias": "none",
              "fan_in_fan_out": false,
              "inference_mode": true,
              "init_lora_weights": true,
              "layer_replication": null,
              "layers_pattern": null,
              "layers_to_transform": null,
              "loftq_config": {},
              "lora_alpha": 16,
              "lora_dropout": 0.05,
              "megatron_config": null,
              "megatron_core": "megatron.core",
              "modules_to_save": null,
              "peft_type": "LORA",
              "r": 8,
              "rank_pattern": {},
              "revision": null,
              "target_modules": [
                "q_proj",
                "v_proj"
              ],
              "task_type": "CAUSAL_LM",
              "use_dora": false,
              "use_rslora": false
            }
            """);
        assertEquals(new LoraConfig(8, 16f, 0.05f, new TargetModules.Names(List.of("q_proj", "v_proj")), Bias.NONE,
            false, List.of(), Init.KAIMING), PeftAdapterReader.readConfig(dir));
    }

    @Test
    void parsesOtherFieldForms() throws IOException {
        Files.writeString(dir.resolve("adapter_config.json"), """
            {"peft_type": "LORA", "r": 4, "lora_alpha": 7.5, "target_modules": "all-linear", "bias": "lora_only",
             "init_lora_weights": "gaussian", "use_rslora": true, "modules_to_save": ["score"], "future_field": 1}""");
        assertEquals(new LoraConfig(4, 7.5f, 0f, new TargetModules.AllLinear(), Bias.LORA_ONLY, true,
            List.of("score"), Init.GAUSSIAN), PeftAdapterReader.readConfig(dir));
        Files.writeString(dir.resolve("adapter_config.json"), """
            {"peft_type": "LORA", "r": 4, "target_modules": ".*\\\\.(q|v)_proj", "init_lora_weights": false}""");
        LoraConfig c = PeftAdapterReader.readConfig(dir);
        assertEquals(new TargetModules.Regex(".*\\.(q|v)_proj"), c.targetModules());
        assertEquals(Init.RANDOM, c.initLoraWeights());
    }

    private String configError(String json) throws IOException {
        Files.writeString(dir.resolve("adapter_config.json"), json);
        return assertThrows(IllegalArgumentException.class, () -> PeftAdapterReader.readConfig(dir)).getMessage();
    }

    @Test
    void unsupportedConfigsAreClearErrors() throws IOException {
        String m = configError("{\"peft_type\": \"IA3\", \"target_modules\": [\"k\"]}");
        assertTrue(m.contains("adapter_config.json") && m.contains("IA3") && m.contains("LORA"), m);
        m = configError("{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q\"], \"use_dora\": true}");
        assertTrue(m.contains("DoRA not supported yet"), m);
        m = configError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"], \"rank_pattern\": {\"q\": 0}}");
        assertTrue(m.contains("rank_pattern['q']") && m.contains("positive"), m);
        m = configError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"], \"alpha_pattern\": [4]}");
        assertTrue(m.contains("alpha_pattern") && m.contains("object"), m);
        m = configError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"], \"rank_pattern\": {\"q(\": 4}}");
        assertTrue(m.contains("rank_pattern") && m.contains("regex"), m);
        m = configError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"], \"init_lora_weights\": \"pissa\"}");
        assertTrue(m.contains("pissa") && m.contains("not supported yet"), m);
        m = configError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"], \"bias\": \"some\"}");
        assertTrue(m.contains("some"), m);
    }

    @Test
    void missingOrBrokenConfigFileIsNamed() throws IOException {
        var e = assertThrows(NoSuchFileException.class, () -> PeftAdapterReader.readConfig(dir));
        assertTrue(e.getMessage().contains("adapter_config.json"), e.getMessage());
        Files.writeString(dir.resolve("adapter_config.json"), "{\n  \"peft_type\": \"LORA\",\n  \"r\": 8,,\n}");
        var bad = assertThrows(IOException.class, () -> PeftAdapterReader.readConfig(dir));
        assertTrue(bad.getMessage().contains("adapter_config.json") && bad.getMessage().contains("line 3"), bad.getMessage());
    }

    /** Saves a valid adapter, then rewrites its weights file with {@code edit} applied and expects a load error. */
    private String weightsError(java.util.function.Consumer<Map<String, Tensor>> edit) throws IOException {
        LoraModel original = saved(LoraConfig.of(4, 8, "fc1,fc2"));
        Map<String, Tensor> sd = new LinkedHashMap<>(original.adapterStateDict("default"));
        edit.accept(sd);
        SafetensorsWriter.write(dir.resolve(PeftAdapterWriter.WEIGHTS_FILE), sd, Map.of());
        TinyNet fresh = LoraModelTest.net();
        float[] base = LoraModelTest.forward(fresh);
        String m = assertThrows(IllegalArgumentException.class, () -> PeftAdapterReader.load(fresh, dir, "default", 1)).getMessage();
        assertFalse(fresh.get("encoder.fc1") instanceof LoraLayer, "a failed load puts the base layers back");
        assertArrayEquals(base, LoraModelTest.forward(fresh));
        assertTrue(fresh.namedParameters().values().stream().allMatch(Variable::requiresGrad), "trainability restored");
        return m;
    }

    @Test
    void unexpectedKeyIsNamed() throws IOException {
        String m = weightsError(sd -> sd.put("base_model.model.encoder.fc3.lora_A.weight", Tensor.of(new float[4], 1, 4)));
        assertTrue(m.contains("Unexpected key(s): base_model.model.encoder.fc3.lora_A.weight"), m);
    }

    @Test
    void missingKeyIsNamed() throws IOException {
        String m = weightsError(sd -> sd.remove("base_model.model.encoder.fc2.lora_B.weight"));
        assertTrue(m.contains("Missing key(s): base_model.model.encoder.fc2.lora_B.weight"), m);
    }

    @Test
    void shapeMismatchNamesKeyAndShapes() throws IOException {
        String m = weightsError(sd -> sd.put("base_model.model.encoder.fc1.lora_A.weight",
            Tensor.of(new float[5 * LoraModelTest.DIM], 5, LoraModelTest.DIM)));
        assertTrue(m.contains("base_model.model.encoder.fc1.lora_A.weight") && m.contains("[5, 12]")
            && m.contains("[4, 12]"), m);
    }

    @Test
    void modelWithLoraAlreadyIsRefused() throws IOException {
        saved(LoraConfig.of(4, 8, "fc1"));
        TinyNet n = LoraModelTest.net();
        LoraModel.inject(n, LoraConfig.of(2, 2, "fc2"), 1);
        var e = assertThrows(IllegalArgumentException.class, () -> PeftAdapterReader.load(n, dir, "default", 1));
        assertTrue(e.getMessage().contains("loadInto"), e.getMessage());
    }
}
