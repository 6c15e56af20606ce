package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.io.safetensors.SafetensorsDType;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraLayer;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.MergedModelWriter;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.QuantizedBase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The whole adapter life cycle through files, as `lora4j merge` runs it: save an adapter, load it onto a fresh base,
 * merge and unload, write a Hugging Face directory, load that back: its logits equal the unmerged adapter's.
 */
class MergeRoundTripTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    static final int[] IDS = {5, 17, 42, 9, 30, 3, 11};

    static float[] logits(CausalLanguageModel m) {
        try (var s = Tape.noGrad()) {
            return m.forward(IDS, 1, IDS.length, null).data().clone();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "gpt2-tiny"})
    void mergedDirectoryComputesWhatTheAdapterDid(String name, @TempDir Path tmp) throws Exception {
        Path base = FIXTURES.resolve(name);
        CausalLanguageModel trained = PretrainedModels.causalLm(base);
        ((Module) trained).train(false);
        LoraModel lora = LoraModel.inject((Module) trained, LoraConfig.of(4, 8, "all-linear"), 1);
        SplittableRandom rnd = new SplittableRandom(2);
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * 0.2);
            }
        }
        float[] expected = logits(trained);
        PeftAdapterWriter.save(lora, "default", tmp.resolve("adapter"), "CAUSAL_LM", name);

        CausalLanguageModel fresh = PretrainedModels.causalLm(base);
        ((Module) fresh).train(false);
        Module merged = PeftAdapterReader.load((Module) fresh, tmp.resolve("adapter"), "default", 0).mergeAndUnload();
        MergedModelWriter.write(merged, HfModelDirectory.open(base), tmp.resolve("merged"));
        assertTrue(Files.exists(tmp.resolve("merged/config.json")));

        CausalLanguageModel reloaded = PretrainedModels.causalLm(tmp.resolve("merged"));
        ((Module) reloaded).train(false);
        assertArrayEquals(expected, logits(reloaded), 1e-4f);
        float[] base0 = logits(PretrainedModels.causalLm(base));
        double diff = 0;
        for (int i = 0; i < base0.length; i++) diff = Math.max(diff, Math.abs(base0[i] - expected[i]));
        assertTrue(diff > 1e-2, "the adapter changed the model (max logit change " + diff + ")");
    }

    /**
     * A QLoRA adapter (trained on an NF4 base) merged as `lora4j merge --base-dtype nf4` does: the written F32 model
     * computes what the unmerged quantized model did (float rounding only), and written as BF16 within BF16's
     * rounding; both differ from the same adapter on the full-precision base by the quantization error.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "gpt2-tiny"})
    void adapterOnAnNf4BaseMergesIntoTheDequantizedBase(String name, @TempDir Path tmp) throws Exception {
        Path base = FIXTURES.resolve(name);
        CausalLanguageModel trained = PretrainedModels.causalLm(base);
        ((Module) trained).train(false);
        QuantizedBase.apply((Module) trained, BaseDType.NF4, path -> true);
        LoraModel lora = LoraModel.inject((Module) trained, LoraConfig.of(4, 8, name.startsWith("gpt2") ? "c_attn" : "q_proj,v_proj"), 1);
        SplittableRandom rnd = new SplittableRandom(2);
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * 0.2);
            }
        }
        float[] expected = logits(trained);
        PeftAdapterWriter.save(lora, "default", tmp.resolve("adapter"), "CAUSAL_LM", name);

        for (SafetensorsDType dtype : new SafetensorsDType[] {SafetensorsDType.F32, SafetensorsDType.BF16}) {
            CausalLanguageModel fresh = PretrainedModels.causalLm(base);
            ((Module) fresh).train(false);
            QuantizedBase.apply((Module) fresh, BaseDType.NF4, path -> true);
            Module merged = PeftAdapterReader.load((Module) fresh, tmp.resolve("adapter"), "default", 0).mergeAndUnload();
            Path out = tmp.resolve("merged-" + dtype);
            MergedModelWriter.write(merged, HfModelDirectory.open(base), out, dtype);
            CausalLanguageModel reloaded = PretrainedModels.causalLm(out);
            ((Module) reloaded).train(false);
            float[] actual = logits(reloaded);
            double scale = 0, diff = 0;
            for (int i = 0; i < expected.length; i++) {
                scale = Math.max(scale, Math.abs(expected[i]));
                diff = Math.max(diff, Math.abs(expected[i] - actual[i]));
            }
            double tolerance = dtype == SafetensorsDType.F32 ? 1e-4 : 0.05 * scale;
            assertTrue(diff <= tolerance, dtype + ": merged vs unmerged quantized max logit difference " + diff + " > " + tolerance);
        }

        CausalLanguageModel full = PretrainedModels.causalLm(base);
        ((Module) full).train(false);
        Module onF32 = PeftAdapterReader.load((Module) full, tmp.resolve("adapter"), "default", 0).mergeAndUnload();
        float[] f32 = logits((CausalLanguageModel) onF32);
        double diff = 0;
        for (int i = 0; i < f32.length; i++) diff = Math.max(diff, Math.abs(f32[i] - expected[i]));
        assertTrue(diff > 1e-3, "NF4 rounding shows against the full-precision base (max logit difference " + diff + ")");
    }
}
