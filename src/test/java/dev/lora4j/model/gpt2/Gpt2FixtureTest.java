package dev.lora4j.model.gpt2;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Tape;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Java GPT-2 against PyTorch's (tools/make_decoder_fixtures.py, a literal re-implementation of transformers'
 * modeling_gpt2.py): logits of a right-padded batch, and greedy generation through the KV cache.
 */
class Gpt2FixtureTest {
    static final Path DIR = Path.of("src/test/resources/fixtures/gpt2-tiny");

    static Gpt2LMHeadModel load() throws Exception {
        Gpt2Config config = Gpt2Config.fromJson(new ObjectMapper().readTree(Files.readString(DIR.resolve("config.json"))));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(DIR.resolve("model.safetensors"))) {
            for (String n : f.names()) tensors.put(n, f.tensor(n));
        }
        Weights.Checkpoint w = Weights.of(tensors, DIR.toString());
        Gpt2LMHeadModel m = Gpt2LMHeadModel.fromWeights(config, w);
        assertEquals(java.util.Set.of(), w.unused(), "every checkpoint tensor is used");
        m.train(false);
        return m;
    }

    static int[] ints(long[] a) {
        return Arrays.stream(a).mapToInt(Math::toIntExact).toArray();
    }

    @Test
    void logitsMatchTransformersAtRealPositions() throws Exception {
        Gpt2LMHeadModel m = load();
        int[] ids, mask;
        float[] expected;
        int batch, seq;
        try (SafetensorsFile f = SafetensorsFile.open(DIR.resolve("expected.safetensors"))) {
            ids = ints(f.longs("input_ids"));
            mask = ints(f.longs("attention_mask"));
            Tensor l = f.tensor("logits");
            expected = l.data();
            batch = l.shape().dim(0);
            seq = l.shape().dim(1);
        }
        int vocab = m.vocabSize();
        float[] actual;
        try (var _ = Tape.noGrad()) {
            actual = m.forward(ids, batch, seq, mask).data();
        }
        double worst = 0;
        int compared = 0;
        for (int t = 0; t < batch * seq; t++) {
            if (mask[t] == 0) continue;
            compared++;
            for (int v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(actual[t * vocab + v] - expected[t * vocab + v]));
        }
        assertTrue(compared < batch * seq, "the fixture has padded positions");
        System.out.printf("gpt2-tiny: max |logit diff| at %d real positions = %.3g%n", compared, worst);
        assertTrue(worst <= 1e-4, "max |logit diff| " + worst);
    }

    @Test
    void greedyGenerationThroughTheCacheReproducesTransformers() throws Exception {
        Gpt2LMHeadModel m = load();
        int[] prompt, greedy;
        try (SafetensorsFile f = SafetensorsFile.open(DIR.resolve("expected.safetensors"))) {
            prompt = ints(f.longs("prompt"));
            greedy = ints(f.longs("greedy"));
        }
        int vocab = m.vocabSize();
        KvCache cache = m.newCache(prompt.length + greedy.length);
        float[] logits = m.forwardCached(prompt, cache);
        int[] generated = new int[greedy.length];
        for (int i = 0; i < greedy.length; i++) {
            int rows = logits.length / vocab;
            generated[i] = argmax(logits, (rows - 1) * vocab, vocab);
            if (i + 1 < greedy.length) logits = m.forwardCached(new int[] {generated[i]}, cache);
        }
        assertArrayEquals(greedy, generated, "greedy tokens");
        assertEquals(prompt.length + greedy.length - 1, cache.length());
    }

    static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }
}
