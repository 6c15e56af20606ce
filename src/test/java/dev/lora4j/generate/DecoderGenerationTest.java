package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraLayer;
import dev.lora4j.peft.LoraModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Generation end to end on the PyTorch fixtures, loaded the way a user loads a Hugging Face directory: the
 * greedy tokens of the reference, streamed; and with a LoRA adapter, unmerged and merged generate the same.
 */
class DecoderGenerationTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");

    static long[] expected(String name, String tensor) throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURES.resolve(name).resolve("expected.safetensors"))) {
            return f.longs(tensor);
        }
    }

    static int[] ints(long[] v) {
        return Arrays.stream(v).mapToInt(x -> (int) x).toArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "llama-tiny", "qwen2-tiny", "mistral-tiny"})
    void greedyGenerationReproducesTheReference(String name) throws Exception {
        CausalLanguageModel model = PretrainedModels.causalLm(FIXTURES.resolve(name));
        ((Module) model).train(false);
        List<Integer> streamed = new ArrayList<>();
        List<Integer> ids = Generator.generate(model, ints(expected(name, "prompt")), SamplingOptions.greedy(8), streamed::add);
        assertEquals(Arrays.stream(expected(name, "greedy")).boxed().map(Long::intValue).toList(), ids);
        assertEquals(ids, streamed, "every token was streamed, in order");
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "llama-tiny"})
    void adapterUnmergedAndMergedGenerateTheSame(String name) throws Exception {
        CausalLanguageModel model = PretrainedModels.causalLm(FIXTURES.resolve(name));
        Module root = (Module) model;
        root.train(false);
        int[] prompt = ints(expected(name, "prompt"));
        List<Integer> base = Generator.generate(model, prompt, SamplingOptions.greedy(8), null);
        LoraModel lora = LoraModel.inject(root, LoraConfig.of(4, 8, "all-linear"), 3);
        SplittableRandom rnd = new SplittableRandom(4);
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * 0.3);
            }
        }
        List<Integer> unmerged = Generator.generate(model, prompt, SamplingOptions.greedy(8), null);
        lora.merge();
        List<Integer> merged = Generator.generate(model, prompt, SamplingOptions.greedy(8), null);
        assertNotEquals(base, unmerged, "the adapter changes what the model says");
        assertEquals(unmerged, merged);
    }

    @org.junit.jupiter.api.Test
    void unsupportedModelTypeIsAClearError(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"falcon\"}");
        Files.copy(FIXTURES.resolve("llama-tiny/model.safetensors"), dir.resolve("model.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PretrainedModels.causalLm(dir));
        assertTrue(e.getMessage().contains("falcon") && e.getMessage().contains("llama"), e.getMessage());
    }
}
