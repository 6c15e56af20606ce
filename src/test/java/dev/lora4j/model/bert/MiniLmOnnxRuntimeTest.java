package dev.lora4j.model.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.onnx.BuiltinBertModel;
import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The oracle for the BERT forward: ONNX Runtime runs the very ONNX file our weights come from, and our
 * last hidden state (and the sentence-transformers embedding built from it) must match it.
 */
class MiniLmOnnxRuntimeTest {
    static final List<String> SENTENCES = List.of(
        "Hello world.", "The quick brown fox jumps over the lazy dog.", "LoRA adapts large models cheaply.",
        "a", "Java 25 ships the Vector API as an incubator module, and FFM is final.",
        "What is the capital of France?", "Paris is the capital and most populous city of France.",
        "I love this!", "This is terrible; I want a refund and an apology from the manager right now.",
        "Matrix multiplication dominates the cost of training transformers on CPUs.",
        "ok", "The weather tomorrow: rain in the morning, sun in the afternoon, wind all day.",
        "Ünïcödé, emoji 🚀 and punctuation!!! (all of it)", "Two sentences. Here is the second one.",
        "numbers 3.14159 and 2,718 and 1e-12", "A very long sentence " + "with many repeated words ".repeat(12),
        "short", "The striker scored twice in the final minutes.", "my grandmother baked fresh bread",
        "tokenization splits unbelievably long words into wordpieces", "[CLS] looks like a special token");

    static BertCheckpoint checkpoint;
    static BertModel model;

    @BeforeAll
    static void load() throws Exception {
        checkpoint = BertCheckpoint.builtin("all-MiniLM-L6-v2");
        model = new BertModel(checkpoint.config(), checkpoint.weights(), "", false);
    }

    @Test
    void lastHiddenStateMatchesOnnxRuntime() throws Exception {
        Tokenizer tok = checkpoint.tokenizer().withOptions(Tokenizer.Options.builder().padding(Tokenizer.Padding.LONGEST).build());
        List<Encoding> enc = tok.encodeBatch(SENTENCES);
        int batch = enc.size(), seq = enc.get(0).length();
        int[] ids = new int[batch * seq], types = new int[batch * seq], mask = new int[batch * seq];
        long[][] lIds = new long[batch][seq], lTypes = new long[batch][seq], lMask = new long[batch][seq];
        for (int b = 0; b < batch; b++) {
            assertEquals(seq, enc.get(b).length(), "padded to the longest");
            for (int s = 0; s < seq; s++) {
                ids[b * seq + s] = enc.get(b).ids()[s];
                types[b * seq + s] = enc.get(b).typeIds()[s];
                mask[b * seq + s] = enc.get(b).attentionMask()[s];
                lIds[b][s] = ids[b * seq + s];
                lTypes[b][s] = types[b * seq + s];
                lMask[b][s] = mask[b * seq + s];
            }
        }
        assertTrue(seq > 20, "the long sentence makes padding matter: seq " + seq);

        float[][][] expected;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(BuiltinBertModel.byName("all-MiniLM-L6-v2").onnxBytes(), new OrtSession.SessionOptions())) {
            Map<String, OnnxTensor> inputs = new HashMap<>();
            inputs.put("input_ids", OnnxTensor.createTensor(env, lIds));
            inputs.put("attention_mask", OnnxTensor.createTensor(env, lMask));
            if (session.getInputNames().contains("token_type_ids")) inputs.put("token_type_ids", OnnxTensor.createTensor(env, lTypes));
            try (OrtSession.Result r = session.run(inputs)) {
                expected = (float[][][]) r.get(0).getValue();
            }
            inputs.values().forEach(OnnxTensor::close);
        }

        BertModel.Batch in = new BertModel.Batch(ids, types, mask, batch, seq);
        float[] hidden, embeddings;
        try (var s = Tape.noGrad()) {
            Variable h = model.forward(in);
            hidden = h.data();
            embeddings = model.embed(in).data();
        }
        int dim = checkpoint.config().hiddenSize();
        double maxDiff = 0;
        for (int b = 0; b < batch; b++) {
            for (int s = 0; s < seq; s++) {
                if (mask[b * seq + s] == 0) continue;  // padded positions are not part of either model's answer
                for (int d = 0; d < dim; d++) maxDiff = Math.max(maxDiff, Math.abs(hidden[(b * seq + s) * dim + d] - expected[b][s][d]));
            }
        }
        assertTrue(maxDiff <= 1e-4, "max |lora4j - onnxruntime| over valid tokens = " + maxDiff);

        // The sentence embedding from ORT's hidden state, pooled in double here, vs ours.
        double maxEmbDiff = 0;
        for (int b = 0; b < batch; b++) {
            double[] mean = new double[dim];
            int count = 0;
            for (int s = 0; s < seq; s++) {
                if (mask[b * seq + s] == 0) continue;
                count++;
                for (int d = 0; d < dim; d++) mean[d] += expected[b][s][d];
            }
            double norm = 0;
            for (int d = 0; d < dim; d++) norm += (mean[d] / count) * (mean[d] / count);
            norm = Math.sqrt(norm);
            for (int d = 0; d < dim; d++) maxEmbDiff = Math.max(maxEmbDiff, Math.abs(mean[d] / count / norm - embeddings[b * dim + d]));
        }
        assertTrue(maxEmbDiff <= 1e-4, "sentence embeddings differ by " + maxEmbDiff);
    }
}
