package dev.lora4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.bert.BertConfig;
import dev.lora4j.model.bert.BertForSequenceClassification;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.model.gpt2.Gpt2Config;
import dev.lora4j.model.gpt2.Gpt2LMHeadModel;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.nn.GradientCheckpointing;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Each model with a layer stack trains the same with gradient checkpointing as without: the same loss and, to the
 * bit, the same gradient for every trainable parameter, with LoRA dropout on (the recomputed layers draw the
 * first forward's masks) and inside the tape's reused buffers, over three steps.
 */
class GradientCheckpointingTest {
    static final int BATCH = 2, SEQ = 7;

    @AfterEach
    void tearDown() {
        Tape.current().clear();
        Tape.current().dropBuffers();
    }

    static int[] ids(int n, long seed, int vocab) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.nextInt(vocab);
        return a;
    }

    /** A right-padded mask: the second row's last two tokens are padding. */
    static int[] mask() {
        int[] m = new int[BATCH * SEQ];
        java.util.Arrays.fill(m, 1);
        m[2 * SEQ - 1] = 0;
        m[2 * SEQ - 2] = 0;
        return m;
    }

    /** Three training steps' losses and gradients (every trainable parameter, by name), from a fresh model each time. */
    static List<float[]> twoSteps(Supplier<Module> build, String targets, java.util.function.Function<Module, Variable> loss, boolean checkpoint) {
        Module m = build.get();
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(4, 8, targets).withDropout(0.2f), 5);
        // B = 0 would give A no gradient: a nonzero B makes every adapter weight matter.
        m.namedParameters().forEach((k, v) -> {
            if (k.contains("lora_B")) for (int i = 0; i < v.size(); i++) v.data()[i] = 0.05f * ((i * 7 + k.length()) % 11 - 5);
        });
        if (checkpoint) assertFalse(GradientCheckpointing.enable(m, true).isEmpty());
        m.train(true);
        List<float[]> out = new ArrayList<>();
        for (int step = 0; step < 3; step++) {
            for (Variable v : lora.trainableVariables()) v.clearGrad();
            try (var _ = Tape.current().reuseBuffers()) {
                Variable l = loss.apply(m);
                out.add(new float[] {l.data()[0]});
                Tape.current().backward(l);
            }
            for (Map.Entry<String, Variable> e : m.namedParameters().entrySet()) {
                if (e.getValue().requiresGrad()) out.add(e.getValue().grad().clone());
            }
        }
        return out;
    }

    static void assertSameTraining(Supplier<Module> build, String targets, java.util.function.Function<Module, Variable> loss) {
        List<float[]> plain = twoSteps(build, targets, loss, false);
        List<float[]> checkpointed = twoSteps(build, targets, loss, true);
        assertEquals(plain.size(), checkpointed.size());
        assertTrue(plain.size() > 4, "some trainable parameters");
        for (int i = 0; i < plain.size(); i++) assertArrayEquals(plain.get(i), checkpointed.get(i), 0f, "result " + i);
    }

    @Test
    void llama() {
        LlamaConfig c = new LlamaConfig("llama", 31, 16, 24, 3, 4, 2, 4, 1e-5f, 10000, null, 64, true, false, false, false, null);
        int[] ids = ids(BATCH * SEQ, 1, c.vocabSize()), labels = ids(BATCH * SEQ, 2, c.vocabSize());
        assertSameTraining(() -> LlamaForCausalLM.fromWeights(c, Weights.random(3, 0.3f)), "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
            m -> Ops.crossEntropy(((LlamaForCausalLM) m).forward(ids, BATCH, SEQ, mask()), labels, -100));
    }

    @Test
    void gpt2() {
        Gpt2Config c = new Gpt2Config(37, 16, 3, 4, 32, 24, "gelu_new", 1e-5f, true, false, true, 0, 0);
        int[] ids = ids(BATCH * SEQ, 4, c.vocabSize()), labels = ids(BATCH * SEQ, 5, c.vocabSize());
        assertSameTraining(() -> new Gpt2LMHeadModel(c, Weights.random(6, 0.3f), "transformer."), "c_attn,c_proj,c_fc",
            m -> Ops.crossEntropy(((Gpt2LMHeadModel) m).forward(ids, BATCH, SEQ, mask()), labels, -100));
    }

    @Test
    void bert() {
        BertConfig c = new BertConfig(41, 16, 3, 4, 32, "gelu", 32, 2, 1e-12f);
        BertModel.Batch in = new BertModel.Batch(ids(BATCH * SEQ, 7, c.vocabSize()), new int[BATCH * SEQ], mask(), BATCH, SEQ);
        int[] labels = {1, 0};
        assertSameTraining(() -> new BertForSequenceClassification(c, Weights.random(8, 0.3f), "",
                BertForSequenceClassification.newClassifier(c, 2, new SplittableRandom(9))),
            "query,key,value,attention.output.dense,intermediate.dense,output.dense",
            m -> Ops.crossEntropy(((BertForSequenceClassification) m).forward(in), labels, -100));
    }

    @Test
    void bertWithTwoForwardsPerStep() {
        // Contrastive training encodes anchors and positives in two forwards through the same layers: the second
        // forward's dropout draws, and the next step's, must not move when the first forward's layers are recomputed.
        BertConfig c = new BertConfig(41, 16, 2, 4, 32, "gelu", 32, 2, 1e-12f);
        BertModel.Batch first = new BertModel.Batch(ids(BATCH * SEQ, 10, c.vocabSize()), new int[BATCH * SEQ], mask(), BATCH, SEQ);
        BertModel.Batch second = new BertModel.Batch(ids(BATCH * SEQ, 11, c.vocabSize()), new int[BATCH * SEQ], mask(), BATCH, SEQ);
        assertSameTraining(() -> new BertForSequenceClassification(c, Weights.random(12, 0.3f), "",
                BertForSequenceClassification.newClassifier(c, 2, new SplittableRandom(13))),
            "query,value,intermediate.dense",
            m -> {
                var model = (BertForSequenceClassification) m;
                return Ops.add(Ops.crossEntropy(model.forward(first), new int[] {1, 0}, -100),
                    Ops.crossEntropy(model.forward(second), new int[] {0, 0}, -100));
            });
    }

    @Test
    void aModelWithoutALayerStackSaysSo() {
        Module plain = new Module() {};
        var e = assertThrows(UnsupportedOperationException.class, () -> GradientCheckpointing.enable(plain, true));
        assertTrue(e.getMessage().contains("gradient checkpointing"), e.getMessage());
    }
}
