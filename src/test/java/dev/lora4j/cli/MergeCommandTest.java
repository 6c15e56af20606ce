package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraLayer;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.PeftAdapterWriter;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** `lora4j merge` with two weighted adapters, both as a new adapter and merged into a model directory. */
class MergeCommandTest {
    static final Path BASE = Path.of("src/test/resources/fixtures/gpt2-tiny");
    static final int[] IDS = {5, 17, 42, 9, 30, 3, 11};

    @TempDir
    Path tmp;

    static float[] logits(CausalLanguageModel m) {
        ((Module) m).train(false);
        try (var s = Tape.noGrad()) {
            return m.forward(IDS, 1, IDS.length, null).data().clone();
        }
    }

    static void randomise(LoraModel lora, String name, long seed, double scaleB) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (LoraLayer l : lora.loraLayers()) {
            if (!l.adapterNames().contains(name)) continue;
            for (var e : l.adapterParameters(name).entrySet()) {
                float[] d = e.getValue().data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * 0.2 * (e.getKey().contains("_B") ? scaleB : 1));
            }
        }
    }

    /** Saves adapter a (r=4) and b (r=2) and returns the logits of the base with 0.7·Δa − 0.3·Δb merged in. */
    float[] saveAdaptersAndExpectedLogits() throws Exception {
        for (int pass = 0; pass < 2; pass++) {
            LoraModel lora = LoraModel.inject((Module) PretrainedModels.causalLm(BASE), "a", LoraConfig.of(4, 8, "c_attn"), 1);
            lora.addAdapter("b", LoraConfig.of(2, 4, "c_attn,c_fc"));
            // The second pass scales B by the weights: merging both then adds exactly 0.7·Δa − 0.3·Δb.
            randomise(lora, "a", 3, pass == 0 ? 1 : 0.7);
            randomise(lora, "b", 4, pass == 0 ? 1 : -0.3);
            if (pass == 0) {
                PeftAdapterWriter.save(lora, "a", tmp.resolve("a"), "CAUSAL_LM", "gpt2-tiny");
                PeftAdapterWriter.save(lora, "b", tmp.resolve("b"), "CAUSAL_LM", "gpt2-tiny");
                continue;
            }
            for (LoraLayer l : lora.loraLayers()) l.merge(l.adapterNames().stream().toList());
            return logits((CausalLanguageModel) lora.model());
        }
        throw new AssertionError();
    }

    int run(String... args) {
        return new CommandLine(new Lora4j()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
    }

    @Test
    void weightedCatMergesIntoTheModelAndSavesAsAnAdapter() throws Exception {
        float[] expected = saveAdaptersAndExpectedLogits();
        String[] common = {"merge", "--model", BASE.toString(), "--adapter", tmp.resolve("a").toString(), "--adapter",
            tmp.resolve("b").toString(), "--weights", "0.7,-0.3", "--combination", "cat"};

        assertEquals(0, run(concat(common, "--out", tmp.resolve("merged").toString())));
        assertArrayEquals(expected, logits(PretrainedModels.causalLm(tmp.resolve("merged"))), 1e-4f);

        assertEquals(0, run(concat(common, "--as-adapter", "--out", tmp.resolve("ab").toString())));
        LoraConfig c = PeftAdapterReader.readConfig(tmp.resolve("ab"));
        assertEquals(6, c.r());
        CausalLanguageModel m = PretrainedModels.causalLm(BASE);
        PeftAdapterReader.load((Module) m, tmp.resolve("ab"), "default", 0);
        assertArrayEquals(expected, logits(m), 1e-4f);

        float[] base = logits(PretrainedModels.causalLm(BASE));
        double diff = 0;
        for (int i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(base[i] - expected[i]));
        assertTrue(diff > 1e-2, "the adapters changed the model (max logit change " + diff + ")");
    }

    @Test
    void mismatchedWeightsAreRefused() throws Exception {
        saveAdaptersAndExpectedLogits();
        assertEquals(2, run("merge", "--model", BASE.toString(), "--adapter", tmp.resolve("a").toString(), "--weights", "0.5,0.5",
            "--out", tmp.resolve("x").toString()));
    }

    static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
