package dev.lora4j.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.model.Weights;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** GPT-2 classification reads the last real token: padding does not change a sequence's logits; LoRA trains it. */
class Gpt2ForSequenceClassificationTest {
    static Gpt2ForSequenceClassification model() throws Exception {
        HfModelDirectory dir = HfModelDirectory.open(Path.of("src/test/resources/fixtures/gpt2-tiny"));
        Gpt2Config config = Gpt2Config.fromJson(dir.config());
        return new Gpt2ForSequenceClassification(config, Weights.of(dir.loadTensors(), "gpt2-tiny"),
            Gpt2ForSequenceClassification.newScore(config, 3, new SplittableRandom(1)));
    }

    @Test
    void paddingDoesNotChangeTheLogits() throws Exception {
        Gpt2ForSequenceClassification m = model();
        m.train(false);
        int[] a = {5, 17, 42, 9, 88, 3}, b = {11, 60, 2};
        int[] batch = {5, 17, 42, 9, 88, 3, 11, 60, 2, 95, 95, 95};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
        try (var s = Tape.noGrad()) {
            float[] both = m.forward(batch, 2, 6, mask).data();
            float[] aAlone = m.forward(a, 1, 6, null).data();
            float[] bAlone = m.forward(b, 1, 3, null).data();
            assertArrayEquals(aAlone, java.util.Arrays.copyOfRange(both, 0, 3), 1e-5f);
            assertArrayEquals(bAlone, java.util.Arrays.copyOfRange(both, 3, 6), 1e-5f);
        }
    }

    @Test
    void loraAndTheScoreHeadTrain() throws Exception {
        Gpt2ForSequenceClassification m = model();
        LoraModel lora = LoraModel.inject(m, LoraConfig.of(4, 8, "c_attn").withModulesToSave(List.of("score")), 1);
        Tape.current().backward(Ops.crossEntropy(m.forward(new int[] {5, 17, 42, 9, 88, 3}, 2, 3, null), new int[] {0, 2}, -100));
        var p = m.namedParameters();
        assertNotNull(p.get("score.weight").grad());
        assertNotNull(p.get("transformer.h.1.attn.c_attn.lora_A.default.weight").grad());
        assertNull(p.get("transformer.h.1.attn.c_attn.base_layer.weight").grad(), "the frozen Conv1D gets no gradient");
    }
}
