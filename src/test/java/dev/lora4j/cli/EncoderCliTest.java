package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `train`, `eval` and `embed` end to end on the built-in all-MiniLM-L6-v2: classification (JSONL and CSV) and embedding pairs. */
class EncoderCliTest {
    @TempDir
    Path tmp;

    private static final String[][] TOPICS = {
        {"sports", "the team won the match in extra time", "a striker scored twice in the final", "the coach praised the defence"},
        {"weather", "heavy rain is expected tomorrow", "a cold front brings snow to the hills", "sunny skies and a light breeze"},
        {"food", "simmer the sauce with garlic and basil", "bake the bread until golden", "this soup needs more salt"}};

    @Test
    void classificationFromJsonlAndCsvTrainsAndEvaluatesTheSameAfterReload() throws Exception {
        Path dir = tmp.resolve("jsonl");
        Files.createDirectories(dir);
        List<String> train = new ArrayList<>(), test = new ArrayList<>(), csv = new ArrayList<>(List.of("text,label"));
        for (String[] t : TOPICS) {
            for (int i = 1; i < t.length; i++) {
                for (int k = 0; k < 3; k++) train.add("{\"text\": \"" + t[i] + (k == 0 ? "" : " " + k) + "\", \"label\": \"" + t[0] + "\"}");
                csv.add("\"" + t[i] + "\"," + t[0]);
            }
            test.add("{\"text\": \"" + t[1] + " again\", \"label\": \"" + t[0] + "\"}");
        }
        Files.write(dir.resolve("train.jsonl"), train);
        Files.write(dir.resolve("test.jsonl"), test);
        Path out = tmp.resolve("cls");
        JsonNode s = CliRunner.ok("train", "--data", dir.toString(), "--out", out.toString(), "--steps", "3", "--batch-size", "8",
            "--max-seq-len", "32", "--save-every", "0", "--json").json();
        assertEquals("classification", s.get("task").asText());
        assertTrue(s.get("trainable_percent").asDouble() < 5, s.toString());
        assertEquals(0, s.get("truncated_examples").asInt());
        JsonNode e = CliRunner.ok("eval", "--adapter", out.toString(), "--data", dir.resolve("test.jsonl").toString(),
            "--max-seq-len", "32", "--json").json();
        assertEquals(s.get("accuracy_after").asDouble(), e.get("accuracy").asDouble(), 1e-12, "the saved adapter gives the same accuracy");
        assertEquals(3, e.get("per_class").size());
        assertTrue(Files.readString(out.resolve("README.md")).contains("classification"));

        Path csvFile = tmp.resolve("train.csv");
        Files.write(csvFile, csv);
        JsonNode c = CliRunner.ok("train", "--data", csvFile.toString(), "--eval-data", dir.resolve("test.jsonl").toString(),
            "--out", tmp.resolve("cls-csv").toString(), "--steps", "2", "--batch-size", "6", "--save-every", "0",
            "--method", "head", "--max-seq-len", "6", "--json").json();
        assertEquals("head", c.get("method").asText());
        assertEquals(csv.size() - 1, c.get("truncated_examples").asInt(), "every text is longer than 6 tokens with [CLS] and [SEP]");
        assertTrue(Files.isRegularFile(tmp.resolve("cls-csv/model.safetensors")));

        Path unseen = tmp.resolve("unseen.jsonl");
        Files.write(unseen, List.of("{\"text\": \"a new topic\", \"label\": \"music\"}"));
        CliRunner.Run bad = CliRunner.run("eval", "--adapter", out.toString(), "--data", unseen.toString());
        assertEquals(1, bad.status());
        assertTrue(bad.err().contains("music"), bad.err());
    }

    @Test
    void gradientCheckpointingTrainsTheSameClassifierAndEmbeddingAdapters() throws Exception {
        Path cls = tmp.resolve("gc-cls"), pairs = tmp.resolve("gc-pairs");
        Files.createDirectories(cls);
        Files.createDirectories(pairs);
        List<String> labelled = new ArrayList<>(), pairLines = new ArrayList<>();
        for (String[] t : TOPICS) {
            for (int i = 1; i < t.length; i++) {
                labelled.add("{\"text\": \"" + t[i] + "\", \"label\": \"" + t[0] + "\"}");
                pairLines.add("{\"anchor\": \"" + t[0] + " news " + i + "\", \"positive\": \"" + t[i] + "\"}");
            }
        }
        Files.write(cls.resolve("train.jsonl"), labelled);
        Files.write(cls.resolve("valid.jsonl"), labelled.subList(0, 3));
        Files.write(pairs.resolve("train.jsonl"), pairLines);
        Files.write(pairs.resolve("valid.jsonl"), pairLines.subList(0, 3));
        // LoRA dropout is on (default 0.05): the recomputed layers must draw the first forward's masks.
        for (Path data : List.of(cls, pairs)) {
            List<byte[]> adapters = new ArrayList<>();
            for (boolean checkpoint : new boolean[] {false, true}) {
                Path out = tmp.resolve(data.getFileName() + (checkpoint ? "-checkpointed" : "-plain"));
                List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(), "--out", out.toString(), "--steps", "2",
                    "--batch-size", "6", "--max-seq-len", "16", "--save-every", "0", "--json"));
                if (checkpoint) args.add("--grad-checkpoint");
                CliRunner.ok(args.toArray(String[]::new));
                adapters.add(Files.readAllBytes(out.resolve("adapter_model.safetensors")));
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(adapters.get(0), adapters.get(1), data.toString());
        }
    }

    @Test
    void embeddingPairsTrainAndTheAdapterServesEvalAndEmbed() throws Exception {
        Path data = tmp.resolve("pairs");
        Files.createDirectories(data);
        List<String> pairs = new ArrayList<>();
        for (String[] t : TOPICS) {
            for (int i = 1; i < t.length; i++) pairs.add("{\"anchor\": \"" + t[0] + " news " + i + "\", \"positive\": \"" + t[i] + "\"}");
        }
        Files.write(data.resolve("train.jsonl"), pairs);
        Files.write(data.resolve("valid.jsonl"), pairs.subList(0, 6));
        Path out = tmp.resolve("emb");
        JsonNode s = CliRunner.ok("train", "--data", data.toString(), "--out", out.toString(), "--steps", "2", "--batch-size", "9",
            "--max-seq-len", "32", "--save-every", "0", "--json").json();
        assertEquals("embedding", s.get("task").asText());
        JsonNode e = CliRunner.ok("eval", "--adapter", out.toString(), "--data", data.toString(), "--max-seq-len", "32", "--json").json();
        assertEquals(s.get("mrr_after").asDouble(), e.get("mrr").asDouble(), 1e-9, "the saved adapter ranks as the trained model did");

        Path texts = tmp.resolve("texts.txt");
        Files.write(texts, List.of(TOPICS[0][1], TOPICS[1][1]));
        Path plain = tmp.resolve("plain.jsonl"), adapted = tmp.resolve("adapted.jsonl");
        CliRunner.ok("embed", "--input", texts.toString(), "--out", plain.toString());
        CliRunner.ok("embed", "--input", texts.toString(), "--out", adapted.toString(), "--adapter", out.toString());
        float[] a = new ObjectMapper().readValue(Files.readAllLines(plain).getFirst(), float[].class);
        float[] b = new ObjectMapper().readValue(Files.readAllLines(adapted).getFirst(), float[].class);
        double norm = 0, diff = 0;
        for (int i = 0; i < b.length; i++) {
            norm += b[i] * b[i];
            diff += Math.abs(a[i] - b[i]);
        }
        assertEquals(1.0, norm, 1e-4, "unit length");
        assertTrue(diff > 1e-3, "the adapter changes the embedding");
    }
}
