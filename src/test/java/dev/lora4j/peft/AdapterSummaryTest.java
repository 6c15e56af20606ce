package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lora4j.inspect.AdapterSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `lora4j inspect` reads back what the writer saved: modules, ranks, parameter counts, size. */
class AdapterSummaryTest {
    @TempDir
    Path dir;

    @Test
    void summarisesASavedAdapter() throws Exception {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,embed").withModulesToSave(List.of("lm_head")), 2);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "org/tiny");
        AdapterSummary s = AdapterSummary.read(dir);
        assertEquals(List.of("embed", "encoder.fc1", "lm_head"), s.modules().stream().map(AdapterSummary.Module::path).toList());
        AdapterSummary.Module fc1 = s.modules().get(1);
        assertEquals("lora", fc1.kind());
        assertEquals(4, fc1.rank());
        assertEquals(4L * LoraModelTest.DIM + (long) LoraModelTest.HIDDEN * 4, fc1.parameters());
        assertEquals(4, s.modules().get(0).rank(), "embedding adapters have a rank too");
        assertEquals("saved in full", s.modules().get(2).kind());
        assertEquals(lora.trainableParameters().trainable(), s.parameters());
        assertEquals(Files.size(dir.resolve("adapter_model.safetensors")) + Files.size(dir.resolve("adapter_config.json")), s.bytesOnDisk());
        assertEquals("org/tiny", s.config().get("base_model_name_or_path").asText());
    }

    @Test
    void notAnAdapterDirectory() {
        assertThrows(java.io.IOException.class, () -> AdapterSummary.read(dir));
    }
}
