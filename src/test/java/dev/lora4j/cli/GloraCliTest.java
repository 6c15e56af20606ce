package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.peft.LoraModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `train --method glora` end to end: the saved GLORA adapter, reloaded by `eval`, reproduces the trained model's metric. */
class GloraCliTest {
    @TempDir
    Path tmp;

    @Test
    void causalLmTrainsSavesGloraAndEvaluatesTheSameAfterReload() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = tmp.resolve("text"), out = tmp.resolve("glora");
        Files.createDirectories(data);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 8; i++) train.add("{\"text\": \"" + (i % 2 == 0 ? "lower newest lower" : "newest lower newest") + "\"}");
        Files.write(data.resolve("train.jsonl"), train);
        Files.write(data.resolve("valid.jsonl"), List.of("{\"text\": \"lower newest lower\"}"));
        JsonNode s = CliRunner.ok("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
            "--method", "glora", "--lora-r", "4", "--steps", "3", "--batch-size", "4", "--lr", "1e-2", "--max-seq-len", "16",
            "--save-every", "0", "--json").json();
        assertEquals("glora", s.get("method").asText());
        assertTrue(s.get("eval_loss_after").asDouble() < s.get("eval_loss_before").asDouble(), s.toString());
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("GLORA", cfg.get("peft_type").asText());
        assertEquals(4, cfg.get("r").asInt());
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            String q = LoraModel.KEY_PREFIX + "model.layers.0.self_attn.q_proj.";
            for (String k : List.of("glora_Au", "glora_Ad", "glora_Bu", "glora_Bd", "glora_C", "glora_D", "glora_E")) {
                assertTrue(f.names().contains(q + k), q + k + " in " + f.names());
            }
            assertEquals(4, f.info(q + "glora_Ad").shape()[0]);
        }
        JsonNode e = CliRunner.ok("eval", "--model", model.toString(), "--adapter", out.toString(), "--data",
            data.resolve("valid.jsonl").toString(), "--max-seq-len", "16", "--json").json();
        assertEquals(s.get("eval_loss_after").asDouble(), e.get("loss").asDouble(), 1e-4, "the reloaded GLoRA adapter");
        String inspect = CliRunner.ok("inspect", out.toString()).out();
        assertTrue(inspect.contains("GLORA r=4"), inspect);
        assertTrue(inspect.matches("(?s).*model\\.layers\\.0\\.self_attn\\.q_proj\\s+glora\\s+4 .*"), inspect);
        // Llama's projections have no bias: a merged directory could not hold GLoRA's bias term, so merge refuses.
        CliRunner.Run merged = CliRunner.run("merge", "--model", model.toString(), "--adapter", out.toString(), "--out", tmp.resolve("merged").toString());
        assertNotEquals(0, merged.status());
        assertTrue(merged.err().contains("has no bias"), merged.err());
        assertFalse(Files.exists(tmp.resolve("merged/model.safetensors")));
        CliRunner.Run quantized = CliRunner.run("train", "--model", model.toString(), "--data", data.toString(), "--out", tmp.resolve("q").toString(),
            "--method", "glora", "--base-dtype", "int8", "--steps", "1");
        assertNotEquals(0, quantized.status());
        assertTrue(quantized.err().contains("F32 base"), quantized.err());
    }

    @Test
    void classificationTrainsGloraAndEvaluatesTheSameAfterReload() throws Exception {
        Path dir = tmp.resolve("cls-data"), out = tmp.resolve("cls");
        Files.createDirectories(dir);
        String[][] topics = {{"sports", "the team won the match"}, {"weather", "heavy rain is expected"}, {"food", "bake the bread until golden"}};
        List<String> train = new ArrayList<>(), test = new ArrayList<>();
        for (String[] t : topics) {
            for (int k = 0; k < 2; k++) train.add("{\"text\": \"" + t[1] + " " + k + "\", \"label\": \"" + t[0] + "\"}");
            test.add("{\"text\": \"" + t[1] + " again\", \"label\": \"" + t[0] + "\"}");
        }
        Files.write(dir.resolve("train.jsonl"), train);
        Files.write(dir.resolve("test.jsonl"), test);
        JsonNode s = CliRunner.ok("train", "--data", dir.toString(), "--out", out.toString(), "--method", "glora", "--target", "query,value",
            "--lora-r", "2", "--steps", "2", "--batch-size", "6", "--max-seq-len", "16", "--save-every", "0", "--json").json();
        assertEquals("classification", s.get("task").asText());
        assertEquals("GLORA", new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile()).get("peft_type").asText());
        JsonNode e = CliRunner.ok("eval", "--adapter", out.toString(), "--data", dir.resolve("test.jsonl").toString(),
            "--max-seq-len", "16", "--json").json();
        assertEquals(s.get("accuracy_after").asDouble(), e.get("accuracy").asDouble(), 1e-12, "the reloaded GLoRA adapter");
    }
}
