package dev.lora4j.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Tape;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The oracle for the Llama-family forward: tiny random models written by tools/make_decoder_fixtures.py (a literal
 * PyTorch re-implementation of transformers' modeling code), with the logits of a right-padded batch and a greedy
 * continuation. Our logits must match at every real position and our cached greedy decoding must pick the same
 * tokens.
 */
class LlamaFixtureTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");

    record Fixture(LlamaForCausalLM model, Weights.Checkpoint weights, Map<String, Object> expected) {}

    static Fixture load(String name) throws Exception {
        Path dir = FIXTURES.resolve(name);
        LlamaConfig config = LlamaConfig.fromJson(new ObjectMapper().readTree(Files.readString(dir.resolve("config.json"))));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            for (String n : f.names()) tensors.put(n, f.tensor(n));
        }
        Weights.Checkpoint ckpt = Weights.of(tensors, dir.toString());
        Map<String, Object> expected = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            expected.put("logits", f.tensor("logits"));
            for (String n : new String[] {"input_ids", "attention_mask", "prompt", "greedy"}) expected.put(n, toInts(f.longs(n)));
            expected.put("shape", f.info("input_ids").shape());
        }
        return new Fixture(LlamaForCausalLM.fromWeights(config, ckpt), ckpt, expected);
    }

    static int[] toInts(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) out[i] = Math.toIntExact(a[i]);
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "qwen2-tiny", "mistral-tiny"})
    void logitsMatchTheReference(String name) throws Exception {
        Fixture fx = load(name);
        assertTrue(fx.weights().unused().isEmpty(), "unused weights " + fx.weights().unused());
        long[] shape = (long[]) fx.expected().get("shape");
        int batch = (int) shape[0], seq = (int) shape[1];
        int[] ids = (int[]) fx.expected().get("input_ids"), mask = (int[]) fx.expected().get("attention_mask");
        Tensor expected = (Tensor) fx.expected().get("logits");
        int vocab = fx.model().vocabSize();
        assertEquals(batch * seq * vocab, expected.size());
        float[] logits;
        try (var _ = Tape.noGrad()) {
            logits = fx.model().forward(ids, batch, seq, mask).data();
        }
        double worst = 0;
        int compared = 0;
        for (int t = 0; t < batch * seq; t++) {
            if (mask[t] == 0) continue;
            compared++;
            for (int j = 0; j < vocab; j++) worst = Math.max(worst, Math.abs(logits[t * vocab + j] - expected.data()[t * vocab + j]));
        }
        System.out.printf("%s: max |logit diff| %.3g over %d real positions%n", name, worst, compared);
        assertTrue(compared < batch * seq, "the fixture has padding");
        assertTrue(worst <= 1e-4, name + ": max |logit diff| " + worst);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "qwen2-tiny", "mistral-tiny"})
    void cachedGreedyDecodingMatchesTheReference(String name) throws Exception {
        Fixture fx = load(name);
        int[] prompt = (int[]) fx.expected().get("prompt"), greedy = (int[]) fx.expected().get("greedy");
        LlamaForCausalLM m = fx.model();
        int vocab = m.vocabSize();
        KvCache cache = m.newCache(prompt.length + greedy.length);
        float[] logits = m.forwardCached(prompt, cache);
        int[] out = new int[greedy.length];
        for (int i = 0; i < greedy.length; i++) {
            int last = logits.length / vocab - 1;
            int best = 0;
            for (int j = 1; j < vocab; j++) if (logits[last * vocab + j] > logits[last * vocab + best]) best = j;
            out[i] = best;
            if (i + 1 < greedy.length) logits = m.forwardCached(new int[] {best}, cache);
        }
        assertArrayEquals(greedy, out, name + " greedy continuation of the prompt");
        assertEquals(prompt.length + greedy.length - 1, cache.length());
    }
}
