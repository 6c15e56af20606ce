package dev.lora4j.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.Linear;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LlamaModelTest {

    /** 2 layers, hidden 12, 3 query heads over 1 kv head of width 4 (GQA), vocab 17. */
    static LlamaConfig tiny(String type, boolean tied, LlamaConfig.RopeScaling scaling) {
        boolean qwen = type.equals("qwen2");
        return new LlamaConfig(type, 17, 12, 20, 2, 3, 1, 4, 1e-5f, 10000, scaling, 64, tied, qwen, false, false, null);
    }

    static LlamaForCausalLM random(LlamaConfig c, long seed) {
        // Nonzero biases so that a missing bias would show.
        Weights base = Weights.random(seed, 0.4f);
        SplittableRandom rnd = new SplittableRandom(seed + 1);
        Weights w = new Weights() {
            @Override
            public dev.lora4j.tensor.Tensor get(String name, int... shape) {
                var t = base.get(name, shape);
                if (name.endsWith(".bias") || name.endsWith("norm.weight")) {
                    float[] d = t.data();
                    for (int i = 0; i < d.length; i++) d[i] += (float) (rnd.nextDouble() - 0.5) * 0.4f;
                }
                return t;
            }

            @Override
            public boolean has(String name) {
                return true;
            }
        };
        return LlamaForCausalLM.fromWeights(c, w);
    }

    static int[] ids(int n, long seed, int vocab) {
        Random r = new Random(seed);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.nextInt(vocab);
        return a;
    }

    @Test
    void parameterPathsAreHuggingFaces() {
        LlamaForCausalLM m = random(tiny("qwen2", false, null), 1);
        Map<String, Variable> p = m.namedParameters();
        for (String k : List.of("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias",
            "model.layers.1.self_attn.k_proj.bias", "model.layers.1.self_attn.v_proj.weight", "model.layers.1.self_attn.o_proj.weight",
            "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight", "model.norm.weight", "lm_head.weight")) {
            assertTrue(p.containsKey(k), k + " in " + p.keySet());
        }
        assertTrue(!p.containsKey("model.layers.0.self_attn.o_proj.bias"), "Qwen2's o_proj has no bias");
        assertEquals(List.of(12, 12), List.of(p.get("model.layers.0.self_attn.q_proj.weight").shape().dims()[0], 12));
        assertEquals(4, p.get("model.layers.0.self_attn.k_proj.weight").shape().dim(0));
        assertTrue(m.get("model.layers.0.self_attn.q_proj") instanceof Linear);
    }

    @Test
    void tiedHeadSharesTheEmbeddingVariable() {
        LlamaForCausalLM m = random(tiny("llama", true, null), 2);
        Map<String, Variable> p = m.namedParameters();
        // Listed once, under its first path, as PyTorch's named_parameters does with shared parameters.
        assertTrue(p.containsKey("model.embed_tokens.weight"));
        assertTrue(!p.containsKey("lm_head.weight"), "a tied head's weight is not listed twice");
        assertSame(m.model().embeddingWeight(), ((Linear) m.lmHead()).weight());
    }

    @Test
    void checkpointWeightsAreCheckedAndUsed() {
        LlamaConfig c = tiny("llama", false, null);
        var named = random(c, 3).namedParameters();
        Map<String, dev.lora4j.tensor.Tensor> map = new java.util.LinkedHashMap<>();
        named.forEach((k, v) -> map.put(k, v.value()));
        Weights.Checkpoint ckpt = Weights.of(map, "test");
        LlamaForCausalLM m = new LlamaForCausalLM(c, ckpt);
        assertTrue(ckpt.unused().isEmpty(), ckpt.unused().toString());
        map.remove("model.layers.1.mlp.up_proj.weight");
        var e = assertThrows(IllegalArgumentException.class, () -> new LlamaForCausalLM(c, Weights.of(map, "test")));
        assertTrue(e.getMessage().contains("model.layers.1.mlp.up_proj.weight"), e.getMessage());
        assertEquals(named.size(), m.namedParameters().size());
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        for (String type : List.of("qwen2", "llama")) {
            LlamaConfig c = tiny(type, type.equals("llama"), LlamaConfig.RopeScaling.linear(2));
            LlamaForCausalLM m = random(c, 4);
            int batch = 2, seq = 5;
            int[] in = ids(batch * seq, 5, c.vocabSize());
            int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
            int[] targets = ids(batch * seq, 6, c.vocabSize());
            targets[8] = targets[9] = -100;
            var p = m.namedParameters();
            GradCheck check = GradCheck.of(type, () -> Ops.crossEntropy(m.forward(in, batch, seq, mask), targets, -100))
                .wrt("q_proj0", p.get("model.layers.0.self_attn.q_proj.weight"))
                .wrt("k_proj1", p.get("model.layers.1.self_attn.k_proj.weight"))
                .wrt("v_proj0", p.get("model.layers.0.self_attn.v_proj.weight"))
                .wrt("down1", p.get("model.layers.1.mlp.down_proj.weight"))
                .wrt("ln0", p.get("model.layers.0.input_layernorm.weight"))
                .wrt("norm", p.get("model.norm.weight"))
                .wrt("embed", p.get("model.embed_tokens.weight"));
            if (type.equals("qwen2")) check.wrt("k_bias0", p.get("model.layers.0.self_attn.k_proj.bias"));
            check.step(3e-3).tolerance(2e-2, 2e-3).run();
        }
    }

    @Test
    void rightPaddingDoesNotChangeRealPositions() {
        LlamaConfig c = tiny("llama", false, null);
        LlamaForCausalLM m = random(c, 7);
        int seq = 6, real = 4;
        int[] a = ids(seq, 8, c.vocabSize());
        int[] padded = a.clone();
        padded[4] = padded[5] = 0;
        try (var _ = Tape.noGrad()) {
            float[] full = m.forward(java.util.Arrays.copyOf(a, real), 1, real, null).data();
            float[] withPad = m.forward(padded, 1, seq, new int[] {1, 1, 1, 1, 0, 0}).data();
            for (int i = 0; i < real * c.vocabSize(); i++) assertEquals(full[i], withPad[i], 1e-5, "logit " + i);
        }
    }

    @Test
    void cachedDecodingReproducesTheFullForward() {
        for (String type : List.of("llama", "qwen2")) {
            LlamaConfig c = tiny(type, false, LlamaConfig.RopeScaling.llama3(8, 1, 4, 16));
            LlamaForCausalLM m = random(c, 9);
            int seq = 11, v = c.vocabSize();
            int[] a = ids(seq, 10, v);
            float[] full;
            try (var _ = Tape.noGrad()) {
                full = m.forward(a, 1, seq, null).data();
            }
            // token by token, with a cache that must grow
            KvCache cache = m.newCache(2);
            double worst = 0;
            for (int t = 0; t < seq; t++) {
                float[] step = m.forwardCached(new int[] {a[t]}, cache);
                assertEquals(v, step.length);
                assertEquals(t + 1, cache.length());
                for (int j = 0; j < v; j++) {
                    assertEquals(full[t * v + j], step[j], 1e-4, type + " token " + t + " logit " + j);
                    worst = Math.max(worst, Math.abs(full[t * v + j] - step[j]));
                }
            }
            System.out.printf("%s: cached token-by-token vs full forward, max |logit diff| %.3g%n", type, worst);
            // a prompt chunk, then single tokens, then a chunk
            cache = m.newCache(16);
            int[][] chunks = {{0, 4}, {4, 5}, {5, 6}, {6, 11}};
            for (int[] ch : chunks) {
                float[] out = m.forwardCached(java.util.Arrays.copyOfRange(a, ch[0], ch[1]), cache);
                for (int i = 0; i < (ch[1] - ch[0]) * v; i++) assertEquals(full[ch[0] * v + i], out[i], 1e-4, type + " chunk " + ch[0] + " entry " + i);
            }
            assertEquals(0, Tape.current().size(), "decoding records nothing");
        }
    }

    @Test
    void slidingWindowIsRefusedBeyondTheWindow() {
        LlamaConfig c = new LlamaConfig("mistral", 17, 12, 20, 1, 3, 1, 4, 1e-5f, 10000, null, 64, false, false, false, false, 4);
        LlamaForCausalLM m = random(c, 11);
        try (var _ = Tape.noGrad()) {
            m.forward(ids(4, 1, 17), 1, 4, null);
            assertThrows(UnsupportedOperationException.class, () -> m.forward(ids(5, 1, 17), 1, 5, null));
        }
    }

    @Test
    void sequenceClassificationUsesTheLastRealToken() {
        LlamaConfig c = tiny("llama", false, null);
        Weights w = Weights.random(12, 0.4f);
        Linear score = LlamaForSequenceClassification.newScore(c, 3, new Random(1));
        LlamaForSequenceClassification cls = new LlamaForSequenceClassification(c, w, score);
        assertTrue(cls.namedParameters().containsKey("score.weight"));
        assertTrue(cls.namedParameters().containsKey("model.layers.1.self_attn.o_proj.weight"));
        int seq = 5;
        int[] a = ids(2 * seq, 13, c.vocabSize());
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
        assertArrayEquals(new int[] {4, 6}, dev.lora4j.model.LastToken.rows(2, seq, mask));
        try (var _ = Tape.noGrad()) {
            Variable logits = cls.forward(a, 2, seq, mask);
            assertEquals(List.of(2, 3), List.of(logits.shape().dim(0), logits.shape().dim(1)));
            // row 2 alone, unpadded: same logits
            Variable alone = cls.forward(java.util.Arrays.copyOfRange(a, seq, seq + 2), 1, 2, null);
            for (int j = 0; j < 3; j++) assertEquals(alone.data()[j], logits.data()[3 + j], 1e-5);
            float[] h = cls.model().forward(a, 2, seq, mask).data();
            float[] sw = score.weight().data();
            for (int j = 0; j < 3; j++) {
                double s = 0;
                for (int k = 0; k < 12; k++) s += (double) h[4 * 12 + k] * sw[j * 12 + k];
                assertEquals(s, logits.data()[j], 1e-5);
            }
        }
        // the score gets a gradient through selectRows
        cls.setTrainable(false);
        score.weight().setRequiresGrad(true);
        GradCheck.of("score", () -> Ops.crossEntropy(cls.forward(a, 2, seq, mask), new int[] {2, 0}, -100))
            .wrt("score", score.weight()).run();
    }
}
