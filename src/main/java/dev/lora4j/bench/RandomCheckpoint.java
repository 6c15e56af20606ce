package dev.lora4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.model.Weights;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a random-weight Hugging Face directory of a real model's shape (config.json + model.safetensors), so
 * loading and training can be measured at full size without downloading a model.
 */
public final class RandomCheckpoint {
    private RandomCheckpoint() {}

    /** SmolLM2-135M's shape: Llama, 30 layers, hidden 576, 9 heads / 3 KV heads, intermediate 1536, vocab 49152, tied. */
    public static ObjectNode smolLm2Config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("vocab_size", 49152);
        c.put("hidden_size", 576);
        c.put("intermediate_size", 1536);
        c.put("num_hidden_layers", 30);
        c.put("num_attention_heads", 9);
        c.put("num_key_value_heads", 3);
        c.put("max_position_embeddings", 8192);
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", 100000.0);
        c.put("hidden_act", "silu");
        c.put("tie_word_embeddings", true);
        c.put("torch_dtype", "float32");
        return c;
    }

    /** Writes the directory; weights N(0, 0.02), norms 1, from a fixed seed. */
    public static void writeLlama(Path dir, ObjectNode config, long seed) throws IOException {
        Files.createDirectories(dir);
        LlamaForCausalLM model = LlamaForCausalLM.fromWeights(LlamaConfig.fromJson(config), Weights.random(seed, 0.02f));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        model.namedParameters().forEach((name, v) -> tensors.put(name, v.value()));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        Files.writeString(dir.resolve("config.json"), new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(config));
    }
}
