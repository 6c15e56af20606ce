package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.data.Record;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.tokenize.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA on a decoder learns the text it is shown: validation loss falls, a CAUSAL_LM adapter is saved. */
class CausalLmTrainingTest {
    @TempDir
    Path tmp;

    /** The tiny Llama fixture with the tiny BPE tokenizer beside it: a complete Hugging Face directory. */
    Path modelDir() throws Exception {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(Path.of("src/test/resources/fixtures/llama-tiny").resolve(f), dir.resolve(f));
        }
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(Path.of("src/test/resources/tokenize/bpe").resolve(f), dir.resolve(f));
        }
        return dir;
    }

    @Test
    void loraLearnsTheTextAndSavesAnAdapter() throws Exception {
        Path dir = modelDir();
        CausalLanguageModel model = PretrainedModels.causalLm(dir);
        List<Record> train = new ArrayList<>();
        for (int i = 0; i < 24; i++) train.add(new Record.Text(i % 2 == 0 ? "lower newest lower" : "newest lower newest"));
        List<Record> valid = List.of(new Record.Text("lower newest lower"), new Record.Text("newest lower newest"));
        try (Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            CausalLmTraining.Result r = new CausalLmTraining(model, tok, "llama-tiny", 32, false, false)
                .run(train, valid, LoraConfig.of(8, 16, "all-linear"), new TrainingOptions(3, 4, 1, 1e-2, 0.0, 2, "linear", 1.0, 3),
                    tmp.resolve("adapter"), false, 0, false);
            assertTrue(r.lossAfter() < r.lossBefore() / 2, "validation loss " + r.lossBefore() + " -> " + r.lossAfter());
            assertTrue(r.perplexityAfter() < r.perplexityBefore());
            assertEquals(18, r.history().losses().size(), "3 epochs x 6 batches of 4");
            try (SafetensorsFile f = SafetensorsFile.open(tmp.resolve("adapter/adapter_model.safetensors"))) {
                assertTrue(f.names().contains("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"), f.names().toString());
                assertTrue(f.names().contains("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"));
            }
            assertTrue(Files.readString(tmp.resolve("adapter/adapter_config.json")).contains("\"task_type\" : \"CAUSAL_LM\""));
        }
    }

    static float klOnText(CausalLanguageModel student, CausalLanguageModel teacher, int[] ids) {
        try (var s = dev.lora4j.autograd.Tape.noGrad()) {
            float[] t = teacher.forward(ids, 1, ids.length, null).data();
            return dev.lora4j.autograd.Ops.distillationKl(student.forward(ids, 1, ids.length, null), t, 1f, new int[ids.length], -100).data()[0];
        }
    }

    @Test
    void distillationPullsTheStudentTowardsTheTeacher() throws Exception {
        Path dir = modelDir();
        // The teacher: the same small model with a random LoRA update merged in, so it computes something else.
        CausalLanguageModel teacher = PretrainedModels.causalLm(dir);
        var t = dev.lora4j.peft.LoraModel.inject((dev.lora4j.nn.Module) teacher, LoraConfig.of(4, 8, "all-linear"), 5);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(6);
        for (var l : t.loraLayers()) for (var v : l.adapterParameters("default").values()) {
            float[] d = v.data();
            for (int i = 0; i < d.length; i++) d[i] = (float) rnd.nextGaussian() * 0.3f;
        }
        t.mergeAndUnload();
        CausalLanguageModel student = PretrainedModels.causalLm(dir);
        List<Record> train = new ArrayList<>();
        for (int i = 0; i < 16; i++) train.add(new Record.Text(i % 2 == 0 ? "lower newest lower" : "newest lower newest"));
        try (Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            int[] ids = tok.encode("lower newest lower").ids();
            float before = klOnText(student, teacher, ids);
            new CausalLmTraining(student, tok, "llama-tiny", 32, false, false).withTeacher(teacher, 1f, 2f)
                .run(train, List.of(new Record.Text("lower newest")), LoraConfig.of(8, 16, "all-linear"),
                    new TrainingOptions(3, 4, 1, 1e-2, 0.0, 0, "constant", 1.0, 3), tmp.resolve("adapter"), false, 0, false);
            float after = klOnText(student, teacher, ids);
            assertTrue(before > 0.05, "the teacher differs from the student at the start: KL " + before);
            assertTrue(after < before / 2, "pure distillation (alpha 1) halves the KL to the teacher at least: " + before + " -> " + after);
        }
    }

    @Test
    void adaLoraOnADecoderPrunesToTargetAndReloads() throws Exception {
        Path dir = modelDir();
        CausalLanguageModel model = PretrainedModels.causalLm(dir);
        List<Record> train = new ArrayList<>();
        for (int i = 0; i < 12; i++) train.add(new Record.Text(i % 2 == 0 ? "lower newest lower" : "newest lower newest"));
        List<Record> valid = List.of(new Record.Text("lower newest lower"));
        LoraConfig lora = LoraConfig.of(2, 8, "q_proj,v_proj");
        try (Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            CausalLmTraining.Result r = new CausalLmTraining(model, tok, "llama-tiny", 32, false, false)
                .withAdaLora(new dev.lora4j.peft.AdaLoraConfig(lora, 2, 4, 0, 1, 1, 0.85, 0.85, 0.5, Long.MAX_VALUE))
                .run(train, valid, lora, new TrainingOptions(1, 4, 1, 1e-2, 0.0, 0, "constant", 1.0, 3), tmp.resolve("ada"), false, 0, false);
            var config = new com.fasterxml.jackson.databind.ObjectMapper().readTree(tmp.resolve("ada/adapter_config.json").toFile());
            assertEquals("ADALORA", config.path("peft_type").asText());
            long kept = 0, layers = 0;
            for (var keep : config.path("rank_pattern")) {
                layers++;
                for (var b : keep) kept += b.asBoolean() ? 1 : 0;
            }
            assertEquals(2 * 2, layers, "2 layers x (q_proj, v_proj)");
            assertEquals(2 * layers, kept, "the final allocation keeps target_r per layer on average");
            CausalLanguageModel fresh = PretrainedModels.causalLm(dir);
            dev.lora4j.peft.PeftAdapterReader.load((dev.lora4j.nn.Module) fresh, tmp.resolve("ada"), "default", 0);
            double reloaded = new CausalLmTraining(fresh, tok, "llama-tiny", 32, false, false).evaluate(valid, 4).loss();
            assertEquals(r.lossAfter(), reloaded, 1e-5, "the saved AdaLoRA adapter computes what the trained model did");
        }
    }
}
