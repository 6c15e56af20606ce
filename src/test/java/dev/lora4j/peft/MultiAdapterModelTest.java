package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Serving's multi-adapter layers: a row segment with an adapter computes what the training LoRA layers compute,
 * rows without one compute the base, merging computes the same again and unmerging restores the base; adapters
 * that serving cannot honour are refused with the reason.
 */
class MultiAdapterModelTest {
    static final Path LLAMA = Path.of("src/test/resources/fixtures/llama-tiny");
    static final Path GPT2 = Path.of("src/test/resources/fixtures/gpt2-tiny");
    static final int[] IDS = {5, 17, 42, 9, 30};

    @TempDir
    Path tmp;

    static CausalLanguageModel load(Path dir) throws Exception {
        CausalLanguageModel m = PretrainedModels.causalLm(dir);
        ((Module) m).train(false);
        return m;
    }

    static float[] logits(CausalLanguageModel m) {
        try (var s = Tape.noGrad()) {
            return m.forward(IDS, 1, IDS.length, null).data().clone();
        }
    }

    Path adapter(Path base, String name, LoraConfig config) throws Exception {
        CausalLanguageModel m = load(base);
        LoraModel lora = LoraModel.inject((Module) m, config, 1);
        SplittableRandom rnd = new SplittableRandom(name.hashCode());
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * 0.2);
            }
        }
        Path dir = tmp.resolve(name);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", base.toString());
        return dir;
    }

    @Test
    void segmentsComputeTheTrainingLayersAndMergingAgrees() throws Exception {
        Path dir = adapter(LLAMA, "qv", LoraConfig.of(4, 8, "q_proj,v_proj,down_proj"));
        CausalLanguageModel reference = load(LLAMA);
        PeftAdapterReader.load((Module) reference, dir, "default", 0);
        float[] expected = logits(reference), base = logits(load(LLAMA));

        CausalLanguageModel served = load(LLAMA);
        MultiAdapterModel m = MultiAdapterModel.wrap((Module) served);
        ServedAdapter a = m.read("qv", dir);
        int n = IDS.length;
        float[] withAdapter = m.withSegments(AdapterSegments.of(new int[] {n}, new ServedAdapter[] {a}), () -> logits(served));
        assertArrayEquals(expected, withAdapter, 1e-4f);
        assertArrayEquals(base, m.withSegments(AdapterSegments.of(new int[] {n}, new ServedAdapter[] {null}), () -> logits(served)), 0f);
        assertArrayEquals(base, logits(served), 0f);

        m.merge(a);
        assertArrayEquals(expected, logits(served), 1e-4f);
        m.unmerge(a);
        assertArrayEquals(base, logits(served), 1e-5f);
    }

    @Test
    void adaptersServingCannotHonourAreRefused() throws Exception {
        MultiAdapterModel gpt2 = MultiAdapterModel.wrap((Module) load(GPT2));
        Path llamaAdapter = adapter(LLAMA, "llama", LoraConfig.of(2, 4, "q_proj"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpt2.read("x", llamaAdapter));
        assertTrue(e.getMessage().contains("unexpected key") && e.getMessage().contains("q_proj"), e.getMessage());

        Path saved = adapter(LLAMA, "saved", LoraConfig.of(2, 4, "q_proj").withModulesToSave(List.of("lm_head")));
        MultiAdapterModel llama = MultiAdapterModel.wrap((Module) load(LLAMA));
        e = assertThrows(IllegalArgumentException.class, () -> llama.read("x", saved));
        assertTrue(e.getMessage().contains("modules_to_save"), e.getMessage());

        ServedAdapter ok = llama.read("fine", adapter(LLAMA, "fine", LoraConfig.of(2, 4, "k_proj")));
        assertEquals(2, ok.rank());
        assertTrue(ok.bytes() > 0);
    }
}
