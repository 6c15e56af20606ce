package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.io.safetensors.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The saved adapter has the files, keys, shapes and config fields Peft's save_pretrained writes. */
class PeftAdapterWriterTest {
    @TempDir
    Path dir;

    @Test
    void writesPeftKeysShapesAndConfig() throws Exception {
        TinyNet n = LoraModelTest.net();
        LoraConfig c = LoraConfig.of(4, 8, "fc1,fc2").withDropout(0.1f).withModulesToSave(List.of("lm_head"));
        LoraModel lora = LoraModel.inject(n, c, 3);
        LoraModelTest.randomiseAdapter(lora, "default", 8);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "org/tiny");

        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(List.of(
                "base_model.model.encoder.fc1.lora_A.weight", "base_model.model.encoder.fc1.lora_B.weight",
                "base_model.model.encoder.fc2.lora_A.weight", "base_model.model.encoder.fc2.lora_B.weight",
                "base_model.model.lm_head.weight"), f.names());
            assertArrayEquals(new long[] {4, LoraModelTest.DIM}, f.info("base_model.model.encoder.fc1.lora_A.weight").shape());
            assertArrayEquals(new long[] {LoraModelTest.HIDDEN, 4}, f.info("base_model.model.encoder.fc1.lora_B.weight").shape());
            LoraLinear fc2 = (LoraLinear) n.get("encoder.fc2");
            assertArrayEquals(fc2.adapterParameters("default").get("lora_B.weight").data(),
                f.tensor("base_model.model.encoder.fc2.lora_B.weight").data());
            assertEquals("pt", f.metadata().get("format"));
        }
        JsonNode cfg = new ObjectMapper().readTree(Files.readString(dir.resolve("adapter_config.json")));
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals(4, cfg.get("r").asInt());
        assertTrue(cfg.get("lora_alpha").isInt(), "integral alpha is written as an int, as Peft does");
        assertEquals(8, cfg.get("lora_alpha").asInt());
        assertEquals(0.1, cfg.get("lora_dropout").asDouble(), 1e-6);
        assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
        assertEquals("org/tiny", cfg.get("base_model_name_or_path").asText());
        assertEquals("[\"fc1\",\"fc2\"]", cfg.get("target_modules").toString());
        assertEquals("[\"lm_head\"]", cfg.get("modules_to_save").toString());
        assertEquals("none", cfg.get("bias").asText());
        assertFalse(cfg.get("use_rslora").asBoolean());
        assertFalse(cfg.get("use_dora").asBoolean());
        try (var files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary files left behind");
        }
    }
}
