package dev.lora4j.model.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Tape;
import dev.lora4j.io.onnx.BuiltinBertModel;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.tokenize.Encoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A BERT model saved as a Hugging Face directory (both key layouts) loads and computes what the built-in one does. */
class BertDirectoryTest {
    static final String CONFIG = """
        {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522, "hidden_size": 384,
         "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
         "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12}
        """;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"", "bert."})
    void directoryLoadsAndMatchesTheBuiltIn(String prefix) throws Exception {
        BertCheckpoint builtin = BertCheckpoint.builtin("all-MiniLM-L6-v2");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        BertModel reference = new BertModel(builtin.config(), builtin.weights(), "", false);
        reference.namedParameters().forEach((k, v) -> tensors.put(prefix + k, v.value()));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        Files.writeString(dir.resolve("config.json"), CONFIG);
        Files.write(dir.resolve("tokenizer.json"), BuiltinBertModel.byName("all-MiniLM-L6-v2").tokenizerJson());

        BertCheckpoint loaded = BertCheckpoint.load(dir.toString());
        assertEquals(prefix, loaded.prefix());
        assertFalse(loaded.hasPooler());
        assertEquals(builtin.config(), loaded.config());
        BertModel model = new BertModel(loaded.config(), loaded.weights(), loaded.prefix(), false);
        assertTrue(loaded.weights().unused().isEmpty(), "every tensor used: " + loaded.weights().unused());

        Encoding e = loaded.tokenizer().encode("LoRA adapts a frozen model with a low-rank update.");
        assertArrayEquals(builtin.tokenizer().encode("LoRA adapts a frozen model with a low-rank update.").ids(), e.ids());
        int n = e.length();
        int[] types = new int[n], mask = new int[n];
        java.util.Arrays.fill(mask, 1);
        BertModel.Batch in = new BertModel.Batch(e.ids(), types, mask, 1, n);
        try (var s = Tape.noGrad()) {
            // Bit for bit: kernels avoid the Vector API's EXP, whose JIT tiers differ in the last bit.
            assertArrayEquals(reference.forward(in).data(), model.forward(in).data(), 0f);
        }
    }

    @Test
    void builtinNamesAndTheirHubIdsNeedNoNetwork() throws Exception {
        assertEquals("all-MiniLM-L6-v2", BertCheckpoint.load("sentence-transformers/all-MiniLM-L6-v2").name());
    }

    @Test
    void notABertDirectoryIsAClearError() throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of("x", Tensor.zeros(1)), Map.of());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BertCheckpoint.fromDirectory(dir));
        assertTrue(e.getMessage().contains("gpt2") && e.getMessage().contains("config.json"), e.getMessage());
    }
}
