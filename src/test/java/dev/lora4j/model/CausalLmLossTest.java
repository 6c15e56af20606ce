package dev.lora4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraLayer;
import dev.lora4j.peft.LoraModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link CausalLanguageModel#loss}: on the tiny Llama and GPT-2 fixtures (tied heads, weights read in place from
 * the mapped checkpoint) the fused head + loss the models override it with gives the loss and the gradients of
 * cross-entropy over {@link CausalLanguageModel#forward}'s logits, for a LoRA adapter, for a head trained in full
 * (tied to the embedding table or not: Qwen2's fixture is untied), and with LoRA on lm_head itself, where the models
 * must fall back to the logits.
 */
class CausalLmLossTest {
    private static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    private static final int BATCH = 2, SEQ = 9, IGNORE = -100;

    private final int[] ids = new int[BATCH * SEQ], mask = new int[BATCH * SEQ], labels = new int[BATCH * SEQ];

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    /** Random tokens; the second sequence right-padded after 5 tokens; labels the next token, ignored at the ends. */
    private CausalLanguageModel load(String name) throws Exception {
        CausalLanguageModel m = PretrainedModels.causalLm(FIXTURES.resolve(name));
        Random rnd = new Random(5);
        for (int b = 0; b < BATCH; b++) {
            int real = b == 0 ? SEQ : 5;
            for (int t = 0; t < SEQ; t++) {
                ids[b * SEQ + t] = t < real ? rnd.nextInt(m.vocabSize()) : 0;
                mask[b * SEQ + t] = t < real ? 1 : 0;
            }
            for (int t = 0; t < SEQ; t++) labels[b * SEQ + t] = t + 1 < real ? ids[b * SEQ + t + 1] : IGNORE;
        }
        ((Module) m).train(false);
        return m;
    }

    private record Step(float loss, List<float[]> grads) {}

    private Step step(CausalLanguageModel m, List<Variable> params, boolean fused) {
        for (Variable p : params) p.clearGrad();
        Variable loss = fused ? m.loss(ids, BATCH, SEQ, mask, labels, IGNORE)
            : Ops.crossEntropy(m.forward(ids, BATCH, SEQ, mask), labels, IGNORE);
        float value = loss.data()[0];
        Tape.current().backward(loss);
        List<float[]> grads = new ArrayList<>();
        for (Variable p : params) {
            assertNotNull(p.grad(), "no gradient reached " + p);
            grads.add(p.grad().clone());
        }
        return new Step(value, grads);
    }

    private static void assertSame(Step expected, Step actual) {
        assertTrue(expected.loss() > 0);
        assertEquals(expected.loss(), actual.loss(), 1e-5 * expected.loss(), "loss");
        for (int i = 0; i < expected.grads().size(); i++) {
            float[] e = expected.grads().get(i), a = actual.grads().get(i);
            double scale = 0, worst = 0;
            for (int j = 0; j < e.length; j++) {
                scale = Math.max(scale, Math.abs(e[j]));
                worst = Math.max(worst, Math.abs(e[j] - a[j]));
            }
            assertTrue(scale > 0, "gradient " + i + " is all zero");
            assertTrue(worst <= 1e-5 * scale, "gradient " + i + ": max |diff| " + worst + " against max " + scale);
        }
    }

    /** LoRA B starts at zero; random values make the adapter change the logits (and A get a gradient). */
    private static List<Variable> randomiseAdapter(LoraModel lora) {
        Random rnd = new Random(9);
        List<Variable> vars = lora.trainableVariables();
        for (Variable v : vars) for (int i = 0; i < v.size(); i++) v.data()[i] = (float) (rnd.nextGaussian() * 0.1);
        return vars;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "gpt2-tiny", "qwen2-tiny"})
    void fusedLossEqualsCrossEntropyOfTheLogits(String name) throws Exception {
        CausalLanguageModel m = load(name);
        float expected;
        try (var _ = Tape.noGrad()) {
            expected = Ops.crossEntropy(m.forward(ids, BATCH, SEQ, mask), labels, IGNORE).data()[0];
            assertEquals(expected, m.loss(ids, BATCH, SEQ, mask, labels, IGNORE).data()[0], 1e-5 * expected);
        }
        String targets = name.startsWith("gpt2") ? "c_attn,c_proj" : "q_proj,v_proj,down_proj";
        List<Variable> adapter = randomiseAdapter(LoraModel.inject((Module) m, LoraConfig.of(4, 8, targets), 3));
        assertSame(step(m, adapter, false), step(m, adapter, true));
    }

    /**
     * Full fine-tuning of the head: a tied table (Llama, GPT-2), where the head's gradient and the embedding lookup's
     * add into one Variable, and an untied lm_head beside its embedding table (Qwen2).
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "gpt2-tiny", "qwen2-tiny"})
    void trainedHeadGetsTheSameGradient(String name) throws Exception {
        CausalLanguageModel m = load(name);
        var named = ((Module) m).namedParameters();
        List<Variable> params = switch (name) {
            case "gpt2-tiny" -> List.of(named.get("transformer.wte.weight"));
            case "llama-tiny" -> List.of(named.get("model.embed_tokens.weight"));
            default -> List.of(named.get("lm_head.weight"), named.get("model.embed_tokens.weight"));
        };
        assertEquals(name.equals("qwen2-tiny"), params.size() == 2 && params.get(0) != params.get(1), "tied or not as the fixture says");
        for (Variable p : params) p.setRequiresGrad(true);
        assertSame(step(m, params, false), step(m, params, true));
    }

    @Test
    void loraOnTheHeadFallsBackToTheLogits() throws Exception {
        LlamaForCausalLM m = (LlamaForCausalLM) load("llama-tiny");
        List<Variable> adapter = randomiseAdapter(LoraModel.inject(m, LoraConfig.of(4, 8, "lm_head,q_proj"), 3));
        assertInstanceOf(LoraLayer.class, m.lmHead(), "lm_head is wrapped");
        // Were the adapter on the head skipped, the loss and its B's gradient would differ.
        assertSame(step(m, adapter, false), step(m, adapter, true));
    }
}
