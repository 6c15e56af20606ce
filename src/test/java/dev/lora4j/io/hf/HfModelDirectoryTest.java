package dev.lora4j.io.hf;

import dev.lora4j.io.safetensors.SafetensorsDType;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.io.safetensors.ShardedSafetensors;
import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfModelDirectoryTest {
    @TempDir
    Path dir;

    private void config(String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
    }

    @Test
    void readsConfigTensorsAndTokenizerFiles() throws Exception {
        config("{\"model_type\": \"llama\", \"hidden_size\": 4, \"rope_theta\": 10000.0, \"weird\": NaN}");
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(
                "model.embed_tokens.weight", Tensor.of(new float[]{1, -2, 3.5f, 4}, 2, 2),
                "lm_head.weight", Tensor.of(new float[]{0.25f, 8}, 1, 2)), Map.of(), SafetensorsDType.BF16);
        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        Files.writeString(dir.resolve("special_tokens_map.json"), "{}");
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages }}");
        Files.writeString(dir.resolve("generation_config.json"), "{}");
        Files.writeString(dir.resolve("README.md"), "not a tokenizer file");

        HfModelDirectory model = HfModelDirectory.open(dir);
        assertEquals(dir, model.dir());
        assertEquals("llama", model.modelType());
        assertEquals(4, model.config().get("hidden_size").intValue());
        assertTrue(model.hasWeights());

        Map<String, Tensor> tensors = model.loadTensors();
        assertEquals(List.of("lm_head.weight", "model.embed_tokens.weight"), new ArrayList<>(tensors.keySet()));
        assertArrayEquals(new float[]{1, -2, 3.5f, 4}, tensors.get("model.embed_tokens.weight").data(), "BF16 widened exactly");
        assertArrayEquals(new int[]{2, 2}, tensors.get("model.embed_tokens.weight").shape().dims());

        assertEquals(Optional.of(dir.resolve("tokenizer.json")), model.tokenizerJson());
        assertEquals(Optional.empty(), model.tokenizerConfig());
        assertEquals(Optional.of(dir.resolve("generation_config.json")), model.generationConfig());
        assertEquals(List.of(dir.resolve("tokenizer.json"), dir.resolve("special_tokens_map.json"),
                dir.resolve("chat_template.jinja")), model.tokenizerFiles());
    }

    @Test
    void shardedWeightsAreReadThroughTheIndex() throws Exception {
        config("{\"model_type\": \"gpt2\"}");
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), Map.of("a", Tensor.of(new float[]{1}, 1)), Map.of());
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), Map.of("b", Tensor.of(new float[]{2, 3}, 2)), Map.of());
        Files.writeString(dir.resolve(ShardedSafetensors.INDEX_FILE), "{\"weight_map\": {"
                + "\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}");
        Map<String, Tensor> tensors = HfModelDirectory.open(dir).loadTensors();
        assertEquals(List.of("a", "b"), new ArrayList<>(tensors.keySet()));
        assertArrayEquals(new float[]{2, 3}, tensors.get("b").data());
    }

    @Test
    void integerBuffersAreNotWeights() throws Exception {
        config("{\"model_type\": \"bert\"}");
        // A BERT-style checkpoint with an I64 position_ids buffer beside a float weight, written by hand.
        String header = "{\"embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[0,16]},"
                + "\"embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).putLong(0).putLong(1).putFloat(1.5f).putFloat(-2);
        Files.write(dir.resolve("model.safetensors"), b.array());
        Map<String, Tensor> tensors = HfModelDirectory.open(dir).loadTensors();
        assertEquals(List.of("embeddings.weight"), new ArrayList<>(tensors.keySet()));
        assertArrayEquals(new float[]{1.5f, -2}, tensors.get("embeddings.weight").data());
    }

    @Test
    void aDirectoryWithoutConfigJsonIsNamedWithItsContents() throws Exception {
        Files.writeString(dir.resolve("model.safetensors"), "x");
        Files.createDirectories(dir.resolve("onnx"));
        ModelDirectoryException e = assertThrows(ModelDirectoryException.class, () -> HfModelDirectory.open(dir));
        assertTrue(e.getMessage().contains(dir + " is not a Hugging Face model directory: it has no config.json"), e.getMessage());
        assertTrue(e.getMessage().contains("found: model.safetensors, onnx/"), e.getMessage());

        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertTrue(assertThrows(ModelDirectoryException.class, () -> HfModelDirectory.open(empty)).getMessage()
                .contains("it is empty"));
        assertTrue(assertThrows(ModelDirectoryException.class, () -> HfModelDirectory.open(dir.resolve("nope")))
                .getMessage().contains("no such model directory"));
    }

    @Test
    void badConfigJsonIsReportedWithFileAndPosition() throws Exception {
        config("{\"model_type\": \"llama\",\n  \"hidden_size\": }");
        ModelDirectoryException e = assertThrows(ModelDirectoryException.class, () -> HfModelDirectory.open(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("config.json") + " is not valid JSON at line 2"), e.getMessage());

        config("[1, 2]");
        e = assertThrows(ModelDirectoryException.class, () -> HfModelDirectory.open(dir));
        assertTrue(e.getMessage().contains("must hold a JSON object, but holds an array"), e.getMessage());

        config("  ");
        e = assertThrows(ModelDirectoryException.class, () -> HfModelDirectory.open(dir));
        assertTrue(e.getMessage().contains("config.json is empty"), e.getMessage());
    }

    @Test
    void aMissingModelTypeIsAClearError() throws Exception {
        config("{\"architectures\": [\"LlamaForCausalLM\"]}");
        HfModelDirectory model = HfModelDirectory.open(dir);
        ModelDirectoryException e = assertThrows(ModelDirectoryException.class, model::modelType);
        assertTrue(e.getMessage().contains("config.json has no \"model_type\""), e.getMessage());
        assertTrue(e.getMessage().contains("LlamaForCausalLM"), e.getMessage());

        config("{\"model_type\": 7}");
        e = assertThrows(ModelDirectoryException.class, HfModelDirectory.open(dir)::modelType);
        assertTrue(e.getMessage().contains("expected a non-empty string"), e.getMessage());
    }

    @Test
    void missingWeightsListWhatIsThere() throws Exception {
        config("{\"model_type\": \"llama\"}");
        Files.writeString(dir.resolve("pytorch_model.bin"), "pickle");
        HfModelDirectory model = HfModelDirectory.open(dir);
        assertFalse(model.hasWeights());
        ModelDirectoryException e = assertThrows(ModelDirectoryException.class, model::loadTensors);
        assertTrue(e.getMessage().contains("has no weights lora4j can read: expected model.safetensors or"
                + " model.safetensors.index.json (found: config.json, pytorch_model.bin)"), e.getMessage());
        assertTrue(e.getMessage().contains("converted to safetensors"), e.getMessage());
        assertEquals(List.of(), model.tokenizerFiles());
    }
}
