package dev.lora4j.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The model table counts what the checkpoint holds and prices LoRA as r·(in + out) per linear layer. */
class ModelSummaryTest {
    @Test
    void countsTheCheckpointsParametersAndLoraCost() throws Exception {
        Path dir = Path.of("src/test/resources/fixtures/llama-tiny");
        Module model = (Module) PretrainedModels.causalLm(dir);
        ModelSummary s = ModelSummary.of(model, 4);
        long stored = 0;
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            for (String n : f.names()) stored += f.info(n).elementCount();
        }
        assertEquals(stored, s.parameters(), "the tied LM head is the embedding, counted once as in the file");
        // hidden 64, 4 heads / 2 KV heads of 16, intermediate 128, 2 layers.
        ModelSummary.LayerType q = s.types().stream().filter(t -> t.pattern().equals("model.layers.*.self_attn.q_proj")).findFirst().orElseThrow();
        assertEquals(2, q.count());
        assertEquals(2L * 4 * (64 + 64), q.loraParameters());
        ModelSummary.LayerType k = s.types().stream().filter(t -> t.pattern().equals("model.layers.*.self_attn.k_proj")).findFirst().orElseThrow();
        assertEquals(2L * 4 * (64 + 32), k.loraParameters());
        long perLayer = 4L * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + 2 * (64 + 128) + (128 + 64));
        assertEquals(2 * perLayer, s.loraParameters());
    }
}
