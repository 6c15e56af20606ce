package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `train --method dora|lora-fa`, `--init pissa`, `--rslora`, `--lr-ratio`, `--l2` end to end on the tiny Llama: the adapter
 * says what Peft would say, and `eval` on the ORIGINAL base with the saved adapter reproduces the trained model's loss
 * (for PiSSA this is the conversion to a plain LoRA on the original base).
 */
class VariantsCliTest {
    @TempDir
    Path tmp;

    @Test
    void variantsTrainSaveAsPeftAndEvaluateTheSameAfterReload() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = tmp.resolve("text");
        Files.createDirectories(data);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 8; i++) train.add("{\"text\": \"" + (i % 2 == 0 ? "lower newest lower" : "newest lower newest") + "\"}");
        Files.write(data.resolve("train.jsonl"), train);
        Files.write(data.resolve("valid.jsonl"), List.of("{\"text\": \"lower newest lower\"}"));
        record Case(String name, List<String> flags, boolean dora, int r, double alpha, boolean rslora) {}
        for (Case c : List.of(
            new Case("dora", List.of("--method", "dora"), true, 8, 16, false),
            new Case("lora-fa", List.of("--method", "lora-fa"), false, 8, 16, false),
            new Case("pissa", List.of("--init", "pissa", "--rslora"), false, 16, 16 * Math.sqrt(2), true))) {
            Path out = tmp.resolve("out-" + c.name());
            List<String> args = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--out",
                out.toString(), "--steps", "3", "--batch-size", "4", "--lr", "1e-2", "--max-seq-len", "16", "--save-every", "0",
                "--lora-dropout", "0", "--json"));
            args.addAll(c.flags());
            JsonNode s = CliRunner.ok(args.toArray(String[]::new)).json();
            assertTrue(s.get("eval_loss_after").asDouble() < s.get("eval_loss_before").asDouble(), c.name() + ": " + s);
            JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
            assertEquals(c.dora(), cfg.get("use_dora").asBoolean(), c.name());
            assertEquals(c.rslora(), cfg.get("use_rslora").asBoolean(), c.name());
            assertEquals(c.r(), cfg.get("r").asInt(), c.name());
            assertEquals(c.alpha(), cfg.get("lora_alpha").asDouble(), 1e-5, c.name());
            assertTrue(cfg.get("init_lora_weights").asBoolean(), c.name());
            JsonNode e = CliRunner.ok("eval", "--model", model.toString(), "--adapter", out.toString(), "--data", data.resolve("valid.jsonl").toString(),
                "--max-seq-len", "16", "--json").json();
            assertEquals(s.get("eval_loss_after").asDouble(), e.get("loss").asDouble(), 1e-4, c.name() + ": reloaded on the original base");
        }
        CliRunner.Run bad = CliRunner.run("train", "--model", model.toString(), "--data", data.toString(), "--init", "olora");
        assertNotEquals(0, bad.status());
        assertTrue(bad.err().contains("olora"), bad.err());
    }
}
