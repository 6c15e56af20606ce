package dev.lora4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Tape;
import dev.lora4j.model.Weights;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertForSequenceClassification;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An encoder base over HTTP: /v1/embeddings gives the base's sentence embeddings, /v1/classify gives a
 * classification adapter's labels and probabilities, the same as the classifier computed in memory before it was
 * saved; completions are refused with a 400.
 */
class EncoderServerTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void embeddingsAndClassification() throws Exception {
        Path dir = ServeFixtures.bertDir(tmp);
        BertCheckpoint checkpoint = BertCheckpoint.fromDirectory(dir);
        List<String> texts = List.of("hello world", "unaffable hello", "world");

        // A classification adapter made in memory: LoRA on query/value, a new pooler and classifier in full.
        BertForSequenceClassification clf = new BertForSequenceClassification(checkpoint.config(),
            checkpoint.weights().orElse(Weights.random(0, 0.02f)), checkpoint.prefix(),
            BertForSequenceClassification.newClassifier(checkpoint.config(), 3, new SplittableRandom(4)));
        LoraModel lora = LoraModel.inject(clf, LoraConfig.of(4, 8, "query,value").withModulesToSave(List.of("classifier", "pooler")), 5);
        ServeFixtures.randomize(lora, 6, 0.3);
        SplittableRandom rnd = new SplittableRandom(7);
        for (var v : clf.namedParameters().entrySet()) {
            if (v.getKey().startsWith("classifier.")) {
                float[] d = v.getValue().data();
                for (int i = 0; i < d.length; i++) d[i] = (float) rnd.nextGaussian();
            }
        }
        clf.train(false);
        float[][] expected = new float[texts.size()][];
        try (var s = Tape.noGrad(); Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            for (int t = 0; t < texts.size(); t++) {
                Encoding e = tok.encode(texts.get(t));
                float[] logits = clf.forward(new BertModel.Batch(e.ids(), e.typeIds(), e.attentionMask(), 1, e.length())).data();
                double max = Math.max(logits[0], Math.max(logits[1], logits[2])), sum = 0;
                expected[t] = new float[3];
                for (int c = 0; c < 3; c++) sum += Math.exp(logits[c] - max);
                for (int c = 0; c < 3; c++) expected[t][c] = (float) (Math.exp(logits[c] - max) / sum);
            }
        }
        Path adapter = tmp.resolve("topics");
        PeftAdapterWriter.save(lora, "default", adapter, "SEQ_CLS", dir.toString());
        Files.writeString(adapter.resolve("labels.json"), "[\"red\", \"green\", \"blue\"]");

        try (LoraServer s = LoraServer.start(ServerConfig.defaults(dir.toString()).withAdapters(Map.of("topics", adapter)))) {
            var r = LoraServerTest.post(s, "/v1/embeddings", JSON.createObjectNode().put("model", dir.toString())
                .set("input", JSON.valueToTree(texts)).toString());
            assertEquals(200, r.statusCode(), r.body());
            JsonNode data = JSON.readTree(r.body()).get("data");
            assertEquals(texts.size(), data.size());
            List<float[]> direct = new dev.lora4j.train.SentenceEmbeddings(checkpoint, 256).embed(texts, 8);
            for (int t = 0; t < texts.size(); t++) {
                JsonNode v = data.get(t).get("embedding");
                assertEquals(t, data.get(t).get("index").asInt());
                assertEquals(32, v.size());
                double norm = 0;
                for (int i = 0; i < v.size(); i++) {
                    assertEquals(direct.get(t)[i], v.get(i).floatValue(), 1e-6f);
                    norm += v.get(i).doubleValue() * v.get(i).doubleValue();
                }
                assertEquals(1.0, norm, 1e-4);
            }

            r = LoraServerTest.post(s, "/v1/classify", JSON.createObjectNode().put("model", "topics").set("input", JSON.valueToTree(texts)).toString());
            assertEquals(200, r.statusCode(), r.body());
            data = JSON.readTree(r.body()).get("data");
            for (int t = 0; t < texts.size(); t++) {
                JsonNode d = data.get(t);
                int best = 0;
                for (int c = 0; c < 3; c++) {
                    assertEquals(expected[t][c], d.get("probs").get(c).floatValue(), 1e-5f, "text " + t + " class " + c);
                    if (expected[t][c] > expected[t][best]) best = c;
                }
                assertEquals(List.of("red", "green", "blue").get(best), d.get("label").asText());
            }

            LoraServerTest.assertError(LoraServerTest.post(s, "/v1/classify", "{\"model\": \"nope\", \"input\": [\"x\"]}"), 404, "not_found_error");
            LoraServerTest.assertError(LoraServerTest.post(s, "/v1/classify", "{\"model\": \"topics\", \"input\": 3}"), 400, "invalid_request_error");
            LoraServerTest.assertError(LoraServerTest.post(s, "/v1/completions", "{\"model\": \"topics\", \"prompt\": \"x\"}"), 400, "invalid_request_error");
            JsonNode models = JSON.readTree(LoraServerTest.get(s, "/v1/models").body()).get("data");
            assertEquals("topics", models.get(1).get("id").asText());
            assertTrue(LoraServerTest.get(s, "/metrics").body().contains("lora4j_requests_total{endpoint=\"/v1/classify\",status=\"200\"} 1"));
        }
    }
}
