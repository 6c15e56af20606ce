package dev.lora4j.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.KvCache;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoRA injects into the decoder by Peft's names, starts at the base model, and trains through both forwards. */
class LlamaLoraTest {
    @Test
    void loraOnAttentionAndMlpProjections() {
        LlamaConfig c = LlamaModelTest.tiny("qwen2", true, null);
        LlamaForCausalLM m = LlamaModelTest.random(c, 21);
        int seq = 6;
        int[] ids = LlamaModelTest.ids(seq, 22, c.vocabSize());
        float[] before;
        try (var _ = Tape.noGrad()) {
            before = m.forward(ids, 1, seq, null).data();
        }
        LoraModel.inject(m, LoraConfig.of(4, 8, "q_proj,v_proj,down_proj"), 1);
        Map<String, Variable> p = m.namedParameters();
        Variable a = p.get("model.layers.0.self_attn.q_proj.lora_A.default.weight");
        Variable b = p.get("model.layers.1.mlp.down_proj.lora_B.default.weight");
        assertNotNull(a, p.keySet().toString());
        assertNotNull(b);
        try (var _ = Tape.noGrad()) {
            float[] after = m.forward(ids, 1, seq, null).data();
            for (int i = 0; i < before.length; i++) assertEquals(before[i], after[i], 1e-6, "B = 0 starts at the base model");
        }
        Variable loss = Ops.crossEntropy(m.forward(ids, 1, seq, null), LlamaModelTest.ids(seq, 23, c.vocabSize()), -100);
        Tape.current().backward(loss);
        assertNotNull(b.grad(), "lora_B gets a gradient");
        assertNull(p.get("model.embed_tokens.weight").grad(), "the frozen base gets none");
        // Cached decoding runs through the wrapped layers too.
        java.util.Arrays.fill(b.data(), 0.05f);
        float[] full;
        try (var _ = Tape.noGrad()) {
            full = m.forward(ids, 1, seq, null).data();
        }
        KvCache cache = m.newCache(seq);
        float[] cached = m.forwardCached(ids, cache);
        double worst = 0;
        for (int i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs(full[i] - cached[i]));
        assertTrue(worst < 1e-4, "cached vs full with an adapter: " + worst);
        assertTrue(Math.abs(full[0] - before[0]) + Math.abs(full[full.length - 1] - before[before.length - 1]) > 1e-4, "the adapter changes the logits");
    }
}
