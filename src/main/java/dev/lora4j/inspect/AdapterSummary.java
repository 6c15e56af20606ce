package dev.lora4j.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.io.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a saved Peft adapter holds, read from its files without loading a model: per adapted module the rank
 * and parameter count, plus the modules saved in full, the totals and the size on disk.
 */
public record AdapterSummary(Path dir, JsonNode config, List<Module> modules, long parameters, long bytesOnDisk) {

    /** One adapted module: its path, the rank of its update, and the shapes and count of its LoRA tensors. */
    public record Module(String path, String kind, int rank, String shapes, long parameters) {}

    public static AdapterSummary read(Path dir) throws IOException {
        Path configFile = dir.resolve("adapter_config.json");
        if (!Files.isRegularFile(configFile)) throw new IOException(dir + ": no adapter_config.json (not a Peft adapter directory)");
        JsonNode config = new ObjectMapper().readTree(configFile.toFile());
        Path weights = dir.resolve("adapter_model.safetensors");
        Map<String, List<TensorInfo>> byModule = new LinkedHashMap<>();
        long params = 0;
        try (SafetensorsFile f = SafetensorsFile.open(weights)) {
            for (String name : f.names()) {
                TensorInfo info = f.info(name);
                params += info.elementCount();
                String key = name.startsWith("base_model.model.") ? name.substring("base_model.model.".length()) : name;
                // AdaLoRA's tensors are ParameterDict entries (<module>.lora_A / lora_B / lora_E, no ".weight"); DoRA's
                // magnitude (saved without ".weight") belongs to its layer's row, like A and B.
                String module = key.replaceAll("\\.(lora_A|lora_B)(\\.[^.]+)?\\.weight$|\\.(lora_embedding_A|lora_embedding_B)(\\.[^.]+)?$"
                    + "|\\.(lora_A|lora_B|lora_E)$|\\.glora_(Au|Ad|Bu|Bd|C|D|E)$|\\.lora_magnitude_vector(\\.[^.]+)?(\\.weight)?$|\\.(weight|bias)$", "");
                byModule.computeIfAbsent(module, k -> new ArrayList<>()).add(info);
            }
        }
        boolean adaLora = "ADALORA".equals(config.path("peft_type").asText()), glora = "GLORA".equals(config.path("peft_type").asText());
        List<Module> modules = new ArrayList<>();
        for (var e : byModule.entrySet()) {
            long n = 0;
            int rank = 0;
            boolean lora = false;
            List<String> shapes = new ArrayList<>();
            for (TensorInfo t : e.getValue()) {
                n += t.elementCount();
                shapes.add(java.util.Arrays.toString(t.shape()));
                // GLoRA's rank is the rows of glora_Ad (its other keys contain "lora_A" too: glora_Au).
                boolean gloraKey = t.name().contains(".glora_");
                if (!gloraKey && (t.name().contains("lora_A") || t.name().contains("lora_embedding_A")) || t.name().endsWith(".glora_Ad")) {
                    lora = true;
                    rank = (int) t.shape()[0];
                }
            }
            // For AdaLoRA the rank is what the budget left this module: the rows of its saved lora_A.
            String kind = !lora ? "saved in full" : adaLora ? "adalora" : glora ? "glora" : "lora";
            modules.add(new Module(e.getKey(), kind, rank, String.join(" ", shapes), n));
        }
        long bytes = Files.size(weights) + Files.size(configFile);
        return new AdapterSummary(dir, config, modules, params, bytes);
    }
}
