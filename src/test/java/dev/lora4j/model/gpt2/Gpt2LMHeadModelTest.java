package dev.lora4j.model.gpt2;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.KvCache;
import dev.lora4j.model.Weights;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraConv1D;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tiny random GPT-2: gradients, padding, the KV-cached decode path, key layouts, LoRA injection. */
class Gpt2LMHeadModelTest {
    static final Gpt2Config TINY = new Gpt2Config(37, 16, 2, 4, 32, 24, "gelu_new", 1e-5f, true, false, true, 0, 0);
    static final int BATCH = 2, SEQ = 6;
    static final int[] IDS = {5, 9, 1, 36, 2, 7, 11, 3, 3, 20, 0, 0};
    static final int[] MASK = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};   // row 2 right-padded

    @TempDir
    Path dir;

    static Gpt2LMHeadModel tiny(float std) {
        // A larger std than GPT-2's 0.02 so that every weight visibly moves the loss.
        return new Gpt2LMHeadModel(TINY, Weights.random(17, std), "transformer.");
    }

    static float[] logits(Gpt2LMHeadModel m, int[] ids, int batch, int seq, int[] mask) {
        try (var _ = Tape.noGrad()) {
            return m.forward(ids, batch, seq, mask).data().clone();
        }
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    @Test
    void modulePathsAreHuggingFaces() {
        Gpt2LMHeadModel m = tiny(0.2f);
        Map<String, Variable> p = m.namedParameters();
        assertArrayEquals(new int[] {16, 48}, p.get("transformer.h.0.attn.c_attn.weight").shape().dims());
        assertArrayEquals(new int[] {48}, p.get("transformer.h.0.attn.c_attn.bias").shape().dims());
        assertArrayEquals(new int[] {16, 16}, p.get("transformer.h.1.attn.c_proj.weight").shape().dims());
        assertArrayEquals(new int[] {16, 24}, p.get("transformer.h.1.mlp.c_fc.weight").shape().dims());
        assertArrayEquals(new int[] {24, 16}, p.get("transformer.h.1.mlp.c_proj.weight").shape().dims());
        assertTrue(p.containsKey("transformer.ln_f.bias") && p.containsKey("transformer.h.0.ln_1.weight") && p.containsKey("transformer.h.0.ln_2.weight"));
        assertFalse(p.containsKey("lm_head.weight"), "the tied head's weight is listed once, as wte's");
        assertTrue(m.namedModules().containsKey("lm_head"));
        long expected = 37 * 16 + 32 * 16 + 2L * (2 * 2 * 16 + 16 * 48 + 48 + 16 * 16 + 16 + 16 * 24 + 24 + 24 * 16 + 16) + 2 * 16;
        assertEquals(expected, m.parameterCount());
    }

    @Test
    void gradientsOfTheLossMatchFiniteDifferences() {
        Gpt2LMHeadModel m = tiny(0.3f);
        int[] targets = new int[BATCH * SEQ];
        for (int i = 0; i < targets.length; i++) targets[i] = MASK[i] == 0 ? -100 : (IDS[i] * 7 + 3) % 37;
        Map<String, Variable> p = m.namedParameters();
        GradCheck.of("gpt2 loss", () -> Ops.crossEntropy(m.forward(IDS, BATCH, SEQ, MASK), targets, -100))
            .wrt("ln_f.weight", p.get("transformer.ln_f.weight"))
            .wrt("h.0.attn.c_attn.bias", p.get("transformer.h.0.attn.c_attn.bias"))
            .wrt("h.1.attn.c_proj.weight", p.get("transformer.h.1.attn.c_proj.weight"))
            .wrt("h.0.mlp.c_fc.bias", p.get("transformer.h.0.mlp.c_fc.bias"))
            .wrt("h.1.ln_1.weight", p.get("transformer.h.1.ln_1.weight"))
            .run();
        // wte is used twice (embedding and tied head): both paths must add into one gradient.
        Variable wte = p.get("transformer.wte.weight");
        float[] analytic = GradCheck.of("gpt2 tied wte", () -> Ops.crossEntropy(m.forward(IDS, BATCH, SEQ, MASK), targets, -100))
            .wrt("wte", wte).run().get("wte");
        assertNotNull(analytic);
    }

    @Test
    void rightPaddingDoesNotChangeRealPositions() {
        Gpt2LMHeadModel m = tiny(0.2f);
        float[] padded = logits(m, IDS, BATCH, SEQ, MASK);
        int[] row2 = java.util.Arrays.copyOfRange(IDS, SEQ, SEQ + 4);
        float[] alone = logits(m, row2, 1, 4, null);
        for (int i = 0; i < 4 * 37; i++) assertEquals(alone[i], padded[SEQ * 37 + i], 1e-5, "element " + i);
    }

    @Test
    void cachedDecodingMatchesFullForward() {
        Gpt2LMHeadModel m = tiny(0.2f);
        int[] seq = {4, 8, 15, 16, 23, 35, 1, 0, 2, 30};
        float[] full = logits(m, seq, 1, seq.length, null);
        // Token by token.
        KvCache cache = m.newCache(4);   // grows on demand
        double worst = 0;
        for (int t = 0; t < seq.length; t++) {
            float[] l = m.forwardCached(new int[] {seq[t]}, cache);
            worst = Math.max(worst, maxAbsDiff(l, 0, full, t * 37, 37));
        }
        assertEquals(seq.length, cache.length());
        assertTrue(worst <= 1e-4, "token-by-token max |diff| " + worst);
        // A prefill of 7, then chunks of 2 and 1.
        cache.clear();
        float[] a = m.forwardCached(java.util.Arrays.copyOfRange(seq, 0, 7), cache);
        float[] b = m.forwardCached(java.util.Arrays.copyOfRange(seq, 7, 9), cache);
        float[] c = m.forwardCached(java.util.Arrays.copyOfRange(seq, 9, 10), cache);
        float[] chunked = new float[full.length];
        System.arraycopy(a, 0, chunked, 0, a.length);
        System.arraycopy(b, 0, chunked, a.length, b.length);
        System.arraycopy(c, 0, chunked, a.length + b.length, c.length);
        assertTrue(maxAbsDiff(chunked, 0, full, 0, full.length) <= 1e-4);
        assertEquals(0, Tape.current().size(), "decoding records nothing");
        assertThrows(IllegalArgumentException.class, () -> m.forwardCached(new int[33], m.newCache(40)), "past n_positions");
    }

    @Test
    void loadsBothCheckpointKeyLayouts() {
        Gpt2LMHeadModel m = tiny(0.2f);
        Map<String, Tensor> lmHead = new LinkedHashMap<>(), bare = new LinkedHashMap<>();
        m.namedParameters().forEach((k, v) -> {
            lmHead.put(k, v.value().copy());
            bare.put(k.substring("transformer.".length()), v.value().copy());
        });
        Weights.Checkpoint w1 = Weights.of(lmHead, "lmhead"), w2 = Weights.of(bare, "bare");
        Gpt2LMHeadModel a = Gpt2LMHeadModel.fromWeights(TINY, w1), b = Gpt2LMHeadModel.fromWeights(TINY, w2);
        assertTrue(w1.unused().isEmpty() && w2.unused().isEmpty());
        float[] expected = logits(m, IDS, BATCH, SEQ, MASK);
        assertArrayEquals(expected, logits(a, IDS, BATCH, SEQ, MASK));
        assertArrayEquals(expected, logits(b, IDS, BATCH, SEQ, MASK));
    }

    @Test
    void untiedHeadReadsLmHeadWeight() {
        Gpt2Config untied = new Gpt2Config(37, 16, 2, 4, 32, 24, "gelu", 1e-5f, true, true, false, 0, 0);
        Gpt2LMHeadModel m = new Gpt2LMHeadModel(untied, Weights.random(3, 0.2f), "transformer.");
        assertTrue(m.namedParameters().containsKey("lm_head.weight"));
        assertNotSame(m.namedParameters().get("lm_head.weight"), m.namedParameters().get("transformer.wte.weight"));
        float[] full = logits(m, java.util.Arrays.copyOf(IDS, SEQ), 1, SEQ, null);
        KvCache cache = m.newCache(8);
        float[] cached = m.forwardCached(java.util.Arrays.copyOf(IDS, SEQ), cache);
        assertTrue(maxAbsDiff(cached, 0, full, 0, full.length) <= 1e-4);
    }

    @Test
    void configFromJson() throws Exception {
        var json = new ObjectMapper().readTree("""
            {"model_type": "gpt2", "vocab_size": 37, "n_embd": 16, "n_layer": 2, "n_head": 4, "n_positions": 32,
             "n_inner": null, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}""");
        Gpt2Config c = Gpt2Config.fromJson(json);
        assertEquals(64, c.nInner());
        assertTrue(c.tieWordEmbeddings() && c.scaleAttnWeights() && c.tanhGelu());
        assertEquals(4, c.headDim());
        assertThrows(IllegalArgumentException.class, () -> Gpt2Config.fromJson(new ObjectMapper().readTree("{\"model_type\": \"llama\"}")));
        assertThrows(IllegalArgumentException.class, () -> Gpt2Config.fromJson(new ObjectMapper().readTree("{\"activation_function\": \"relu\"}")));
    }

    @Test
    void loraOnGpt2TargetsConv1DsAndWritesFanInFanOut() throws Exception {
        Gpt2LMHeadModel m = tiny(0.2f);
        float[] base = logits(m, IDS, BATCH, SEQ, MASK);
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(4, 8, "all-linear"), 1);
        assertInstanceOf(LoraConv1D.class, m.get("transformer.h.0.attn.c_attn"));
        assertInstanceOf(LoraConv1D.class, m.get("transformer.h.1.mlp.c_proj"));
        assertFalse(m.get("lm_head") instanceof dev.lora4j.peft.LoraLayer, "all-linear leaves the head alone");
        assertEquals(8, lora.loraLayers().size());
        assertArrayEquals(base, logits(m, IDS, BATCH, SEQ, MASK), "B = 0 leaves the model bit-identical");
        Map<String, Tensor> sd = lora.adapterStateDict("default");
        assertArrayEquals(new int[] {4, 16}, sd.get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {48, 4}, sd.get("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").shape().dims());
        assertArrayEquals(new int[] {16, 4}, sd.get("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight").shape().dims());
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "tiny-gpt2");
        var cfg = new ObjectMapper().readTree(Files.readString(dir.resolve("adapter_config.json")));
        assertTrue(cfg.get("fan_in_fan_out").asBoolean(), "Peft sets fan_in_fan_out for Conv1D targets");

        // Merged == unmerged through the whole model, and the cached path sees the adapter too.
        for (var l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) Math.sin(i * 0.37 + d.length) * 0.3f;
            }
        }
        float[] unmerged = logits(m, IDS, BATCH, SEQ, MASK);
        assertTrue(maxAbsDiff(unmerged, 0, base, 0, base.length) > 1e-3);
        float[] cached = m.forwardCached(java.util.Arrays.copyOf(IDS, SEQ), m.newCache(8));
        assertTrue(maxAbsDiff(cached, 0, unmerged, 0, cached.length) <= 1e-4);
        lora.merge();
        assertTrue(maxAbsDiff(logits(m, IDS, BATCH, SEQ, MASK), 0, unmerged, 0, unmerged.length) <= 1e-4);
    }

    static double maxAbsDiff(float[] a, int aOff, float[] b, int bOff, int n) {
        double m = 0;
        for (int i = 0; i < n; i++) m = Math.max(m, Math.abs(a[aOff + i] - b[bOff + i]));
        return m;
    }
}
