package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.data.LabelledText;
import dev.lora4j.data.TopicsDataset;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.peft.AdaLoraConfig;
import dev.lora4j.peft.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The path `lora4j train` runs, at a small scale: MiniLM + LoRA learns the topics task and saves a Peft adapter. */
class SequenceClassificationTest {
    @TempDir
    Path out;

    @Test
    void loraOnMiniLmLearnsTopicsAndSavesAdapter() throws Exception {
        BertCheckpoint ckpt = BertCheckpoint.builtin("all-MiniLM-L6-v2");
        List<LabelledText> train = TopicsDataset.generate(96, 11), test = TopicsDataset.generate(64, 12);
        TrainingOptions opts = new TrainingOptions(2, 16, 1, 2e-3, 0.0, 0.1, "linear", 1.0, 7);
        SequenceClassification task = new SequenceClassification(ckpt, 4, 64).withLabelNames(TopicsDataset.LABELS);
        SequenceClassification.Result r = task.run(train, test, LoraConfig.of(4, 8, "query,value"), opts, out, false);

        assertTrue(r.accuracyBefore() < 0.6, "an untrained head is near chance: " + r.accuracyBefore());
        assertTrue(r.accuracyAfter() >= 0.9, "LoRA learned the task: " + r.accuracyAfter());
        assertEquals(12, r.history().losses().size(), "2 epochs x 6 steps");
        assertTrue(r.history().losses().get(11) < r.history().losses().get(0) / 3, "loss fell: " + r.history().losses());
        // 6 layers x (query + value) x r·(384+384), plus the new pooler and the classifier trained in full.
        long lora = 6L * 2 * 4 * (384 + 384), pooler = 384L * 384 + 384, classifier = 4L * 384 + 4;
        assertEquals(lora + pooler + classifier, r.parameters().trainable());
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            assertTrue(f.names().contains("base_model.model.bert.encoder.layer.5.attention.self.value.lora_B.weight"), f.names().toString());
            assertTrue(f.names().contains("base_model.model.classifier.weight"));
            assertTrue(f.names().contains("base_model.model.bert.pooler.dense.weight"));
            assertEquals(6 * 2 * 2 + 4, f.names().size());
        }
        assertTrue(Files.size(out.resolve("loss.png")) > 1000, "a loss curve picture was written");
        assertTrue(Files.readString(out.resolve("adapter_config.json")).contains("\"task_type\" : \"SEQ_CLS\""));

        // What `lora4j eval` does: rebuild the classifier from the saved adapter, measure again.
        assertEquals(TopicsDataset.LABELS, SequenceClassification.readLabels(out));
        SequenceClassification.Evaluation e = task.evaluate(task.loadTrained(out), test);
        assertEquals(r.accuracyAfter(), e.accuracy(), 1e-12, "the saved adapter computes what the trained model did");
        assertEquals(test.size(), e.examples());
        for (int c = 0; c < 4; c++) assertTrue(e.recall()[c] >= 0.5, "recall of class " + c + ": " + e.recall()[c]);
    }

    @Test
    void adaLoraPrunesToItsBudgetAndSavesWhatEvalReloads() throws Exception {
        BertCheckpoint ckpt = BertCheckpoint.builtin("all-MiniLM-L6-v2");
        List<LabelledText> train = TopicsDataset.generate(48, 31), test = TopicsDataset.generate(16, 32);
        TrainingOptions opts = new TrainingOptions(1, 16, 1, 2e-3, 0.0, 0.1, "linear", 1.0, 7);
        LoraConfig lora = LoraConfig.of(2, 8, "query,value");
        // 3 steps: budgeting at global step 1, the final allocation at 2 = total_step − tfinal.
        AdaLoraConfig ada = new AdaLoraConfig(lora, 2, 4, 0, 1, 1, 0.85, 0.85, 0.5, Long.MAX_VALUE);
        SequenceClassification task = new SequenceClassification(ckpt, 4, 32).withAdaLora(ada);
        SequenceClassification.Result r = task.run(train, test, SequenceClassification.Method.ADALORA, lora, opts, out, false);
        assertEquals(3, r.history().losses().size());

        var config = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("ADALORA", config.path("peft_type").asText());
        assertEquals(3, config.path("total_step").asInt());
        long kept = 0;
        for (var keep : config.path("rank_pattern")) for (var b : keep) kept += b.asBoolean() ? 1 : 0;
        assertEquals(12, config.path("rank_pattern").size(), "6 layers x (query, value)");
        assertEquals(2 * 12, kept, "the final allocation keeps target_r x layers triplets");
        long rows = 0;
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            for (String n : f.names()) if (n.endsWith(".lora_E")) rows += f.info(n).shape()[0];
        }
        assertEquals(kept, rows, "the file holds only the kept triplets");
        SequenceClassification.Evaluation e = task.evaluate(task.loadTrained(out), test);
        assertEquals(r.accuracyAfter(), e.accuracy(), 1e-12, "the saved AdaLoRA adapter computes what the trained model did");
    }

    @Test
    void headAndFullBaselinesTrainWhatTheySay() throws Exception {
        BertCheckpoint ckpt = BertCheckpoint.builtin("all-MiniLM-L6-v2");
        List<LabelledText> train = TopicsDataset.generate(64, 21), test = TopicsDataset.generate(32, 22);
        TrainingOptions opts = new TrainingOptions(2, 16, 1, 2e-3, 0.0, 0.1, "linear", 1.0, 7);
        SequenceClassification task = new SequenceClassification(ckpt, 4, 64);
        SequenceClassification.Result head = task.run(train, test, SequenceClassification.Method.HEAD, LoraConfig.of(4, 8, "query"), opts,
            out.resolve("head"), false);
        assertEquals(384L * 384 + 384 + 4L * 384 + 4, head.parameters().trainable(), "head: new pooler and classifier only");
        assertTrue(head.history().losses().get(7) < head.history().losses().get(0), "head training lowers the loss");
        SequenceClassification.Result full = task.run(train, test, SequenceClassification.Method.FULL, LoraConfig.of(4, 8, "query"),
            new TrainingOptions(2, 16, 1, 5e-5, 0.0, 0.1, "linear", 1.0, 7), out.resolve("full"), false);
        assertEquals(full.parameters().total(), full.parameters().trainable(), "full: everything trains");
        assertTrue(full.accuracyAfter() > full.accuracyBefore(), full.accuracyBefore() + " -> " + full.accuracyAfter());
        assertTrue(Files.size(out.resolve("full/model.safetensors")) > 4L * 22_000_000, "the whole model was saved");
    }
}
