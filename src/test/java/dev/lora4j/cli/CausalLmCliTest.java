package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Variable;
import dev.lora4j.data.DatasetReader;
import dev.lora4j.data.Record;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.tokenize.Tokenizer;
import dev.lora4j.train.CausalLmTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `train`, `eval` and `merge` end to end on the tiny Llama fixture, for every causal-LM data format. */
class CausalLmCliTest {
    @TempDir
    Path tmp;

    private static final List<String> PHRASES = List.of("lower newest lower", "newest lower newest", "lower lower newest",
        "newest newest lower", "lowest newer lower", "new low lower newest");

    private static Path writeSplits(Path dir, java.util.function.Function<String, String> line) throws Exception {
        Files.createDirectories(dir);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 12; i++) train.add(line.apply(PHRASES.get(i % PHRASES.size())));
        Files.write(dir.resolve("train.jsonl"), train);
        Files.write(dir.resolve("valid.jsonl"), List.of(line.apply(PHRASES.get(0)), line.apply(PHRASES.get(3))));
        return dir;
    }

    private Path textData() throws Exception {
        return writeSplits(tmp.resolve("text"), p -> "{\"text\": \"" + p + "\"}");
    }

    @Test
    void everyCausalFormatTrainsWritesItsRunFilesAndEvaluatesTheSameAfterReload() throws Exception {
        Path model = CliRunner.llamaTiny(tmp);
        Map<String, Path> formats = Map.of(
            "text", textData(),
            "prompt-completion", writeSplits(tmp.resolve("pc"), p -> "{\"prompt\": \"" + p + "\", \"completion\": \" lower\"}"),
            "chat", writeSplits(tmp.resolve("chat"), p -> "{\"messages\": [{\"role\": \"user\", \"content\": \"" + p
                + "\"}, {\"role\": \"assistant\", \"content\": \"newest\"}]}"));
        for (var f : formats.entrySet()) {
            Path out = tmp.resolve("out-" + f.getKey());
            JsonNode s = CliRunner.ok("train", "--model", model.toString(), "--data", f.getValue().toString(), "--out", out.toString(),
                "--steps", "4", "--batch-size", "4", "--lr", "1e-2", "--max-seq-len", "32", "--mask-prompt", "--save-every", "0",
                "--eval-every", "2", "--json").json();
            assertEquals("causal-lm", s.get("task").asText(), f.getKey());
            assertEquals(4, s.get("steps").asInt());
            assertEquals(0, s.get("truncated_examples").asInt());
            assertTrue(s.get("eval_loss_after").asDouble() < s.get("eval_loss_before").asDouble(), f.getKey() + ": " + s);
            for (String file : List.of("adapter_config.json", "adapter_model.safetensors", "README.md", "training_args.json",
                "metrics.jsonl", "loss.png")) {
                assertTrue(Files.isRegularFile(out.resolve(file)), f.getKey() + ": " + file);
            }
            List<JsonNode> metrics = new ArrayList<>();
            for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) metrics.add(new ObjectMapper().readTree(l));
            assertEquals(4, metrics.stream().filter(m -> m.has("loss")).count(), "a line per step");
            assertEquals(List.of(0L, 2L, 4L), metrics.stream().filter(m -> m.has("eval_loss")).map(m -> m.get("step").asLong()).toList());
            assertEquals(8, new ObjectMapper().readTree(out.resolve("training_args.json").toFile()).get("lora-r").asInt());
            assertTrue(Files.readString(out.resolve("README.md")).contains("base_model: \"" + model + "\""));

            JsonNode e = CliRunner.ok("eval", "--model", model.toString(), "--adapter", out.toString(), "--data",
                f.getValue().toString(), "--mask-prompt", "--max-seq-len", "32", "--batch-size", "4", "--json").json();
            assertEquals(s.get("eval_loss_after").asDouble(), e.get("loss").asDouble(), 1e-5, f.getKey() + ": reloaded adapter");
        }
    }

    /**
     * The contract of one plain SGD step: B starts at zero, so A gets no gradient and stays as initialised, and
     * B becomes -lr x dloss/dB, where the derivative is taken by central finite differences of the loss itself.
     */
    @Test
    void oneSgdStepMovesBByTheFiniteDifferenceGradient() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = textData(), out = tmp.resolve("sgd");
        double lr = 0.5;
        List<Record> train = DatasetReader.read(data.resolve("train.jsonl"));
        CliRunner.ok("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(), "--optimizer", "sgd",
            "--lr", Double.toString(lr), "--steps", "1", "--batch-size", Integer.toString(train.size()), "--lora-dropout", "0",
            "--max-grad-norm", "0", "--warmup", "0", "--max-seq-len", "32", "--save-every", "0", "--seed", "7");

        CausalLanguageModel lm = PretrainedModels.causalLm(model);
        LoraModel peft = LoraModel.inject((Module) lm, LoraConfig.of(8, 16, "q_proj,v_proj").withDropout(0), 7);
        Map<String, Variable> params = ((Module) lm).namedParameters();
        try (SafetensorsFile saved = SafetensorsFile.open(out.resolve("adapter_model.safetensors"));
             Tokenizer tok = Tokenizer.fromDirectory(model)) {
            CausalLmTraining measure = new CausalLmTraining(lm, tok, "llama-tiny", 32, false, false);
            int checked = 0;
            for (var p : params.entrySet()) {
                if (!p.getKey().contains(".lora_")) continue;
                String key = LoraModel.KEY_PREFIX + p.getKey().replace(".default.weight", ".weight");
                float[] after = saved.tensor(key).data(), init = p.getValue().data();
                if (p.getKey().contains(".lora_A.")) {
                    assertArrayEquals(init, after, 0f, key + " must not move: its gradient is zero while B is zero");
                    continue;
                }
                // B: check the entries that moved most and a few others.
                for (int i : new int[] {argMaxAbs(after), 0, after.length / 2, after.length - 1}) {
                    float h = 1e-2f;
                    init[i] = h;
                    double up = measure.evaluate(train, train.size()).loss();
                    init[i] = -h;
                    double down = measure.evaluate(train, train.size()).loss();
                    init[i] = 0;
                    double grad = (up - down) / (2 * h);
                    assertEquals(-lr * grad, after[i], 2e-4 + 1e-2 * Math.abs(after[i]), key + "[" + i + "]");
                    checked++;
                }
            }
            assertEquals(4 * 4, checked, "q_proj and v_proj of 2 layers");
            assertNotEquals(0f, saved.tensor(LoraModel.KEY_PREFIX + "model.layers.0.self_attn.q_proj.lora_B.weight").data()[argMaxAbs(
                saved.tensor(LoraModel.KEY_PREFIX + "model.layers.0.self_attn.q_proj.lora_B.weight").data())]);
        }
        assertTrue(peft.trainableParameters().trainable() > 0);
    }

    private static int argMaxAbs(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (Math.abs(a[i]) > Math.abs(a[best])) best = i;
        return best;
    }

    @Test
    void mergedModelEvaluatesLikeTheModelWithItsAdapter() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = textData(), out = tmp.resolve("adapter"), merged = tmp.resolve("merged");
        CliRunner.ok("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(), "--steps", "3",
            "--batch-size", "4", "--lr", "1e-2", "--save-every", "0", "--target", "all-linear");
        CliRunner.ok("merge", "--model", model.toString(), "--adapter", out.toString(), "--out", merged.toString());
        JsonNode withAdapter = CliRunner.ok("eval", "--model", model.toString(), "--adapter", out.toString(), "--data", data.toString(), "--json").json();
        JsonNode mergedEval = CliRunner.ok("eval", "--model", merged.toString(), "--data", data.toString(), "--json").json();
        JsonNode base = CliRunner.ok("eval", "--model", model.toString(), "--data", data.toString(), "--json").json();
        assertEquals(withAdapter.get("loss").asDouble(), mergedEval.get("loss").asDouble(), 1e-4);
        assertEquals(withAdapter.get("tokens").asLong(), mergedEval.get("tokens").asLong());
        assertTrue(Math.abs(base.get("loss").asDouble() - withAdapter.get("loss").asDouble()) > 1e-3, "the adapter changed the model");
    }

    @Test
    void sameFlagsAndSeedGiveTheSameAdapterBytes() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = textData();
        List<byte[]> adapters = new ArrayList<>();
        for (String run : List.of("a", "b")) {
            Path out = tmp.resolve(run);
            CliRunner.ok("train", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(), "--steps", "3",
                "--batch-size", "4", "--save-every", "0");
            adapters.add(Files.readAllBytes(out.resolve("adapter_model.safetensors")));
        }
        assertArrayEquals(adapters.get(0), adapters.get(1));
    }

    @Test
    void gradientCheckpointingTrainsTheSameAdapterBytes() throws Exception {
        // LoRA dropout is on (the default 0.05): the recomputed layers must draw the same masks as the first forward.
        Path model = CliRunner.llamaTiny(tmp), data = textData();
        List<byte[]> adapters = new ArrayList<>();
        for (String run : List.of("plain", "checkpointed")) {
            Path out = tmp.resolve(run);
            List<String> args = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--out",
                out.toString(), "--steps", "3", "--batch-size", "4", "--save-every", "0", "--target", "all-linear"));
            if (run.equals("checkpointed")) args.add("--grad-checkpoint");
            CliRunner.ok(args.toArray(String[]::new));
            adapters.add(Files.readAllBytes(out.resolve("adapter_model.safetensors")));
        }
        assertArrayEquals(adapters.get(0), adapters.get(1));
    }

    @Test
    void configFileSetsOptionsAndTypedFlagsOverrideIt() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = textData(), out = tmp.resolve("cfg");
        Path config = tmp.resolve("run.yaml");
        Files.writeString(config, "model: " + model + "\ndata: " + data + "\nlora_r: 4\nsteps: 2\nbatch-size: 4\nsave-every: 0\n"
            + "target: [q_proj, k_proj]\nmask-prompt: false\n");
        JsonNode s = CliRunner.ok("train", "--config", config.toString(), "--lora-r", "2", "--out", out.toString(), "--json").json();
        assertEquals(2, s.get("steps").asInt(), "from the file");
        JsonNode adapterConfig = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertEquals(2, adapterConfig.get("r").asInt(), "the typed flag wins");
        assertTrue(adapterConfig.get("target_modules").toString().contains("k_proj"), adapterConfig.toString());

        Files.writeString(config, "lr_rate: 1\n");
        CliRunner.Run bad = CliRunner.run("train", "--config", config.toString());
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains(config + ": unknown key 'lr_rate'"), bad.err());
    }

    @Test
    void mismatchedTaskIsAOneLineError() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = textData();
        CliRunner.Run wrong = CliRunner.run("train", "--model", model.toString(), "--data", data.toString(), "--task", "classification");
        assertEquals(1, wrong.status());
        assertTrue(wrong.err().contains("which train causal-lm, not classification"), wrong.err());
        assertEquals(1, wrong.err().strip().lines().count(), wrong.err());
    }
}
