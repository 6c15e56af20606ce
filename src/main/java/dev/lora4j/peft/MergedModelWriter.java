package dev.lora4j.peft;

import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.safetensors.SafetensorsDType;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a model whose adapters were merged and unloaded as a Hugging Face directory again: config.json (and
 * generation_config.json) and the tokenizer files copied from the base directory, weights as model.safetensors
 * under the module paths, which are the checkpoint names transformers loads.
 */
public final class MergedModelWriter {
    private MergedModelWriter() {}

    public static void write(Module merged, HfModelDirectory base, Path out) throws IOException {
        write(merged, base, out, SafetensorsDType.F32);
    }

    /** Like {@link #write(Module, HfModelDirectory, Path)}, the weights narrowed to {@code dtype} (F32, BF16 or F16). */
    public static void write(Module merged, HfModelDirectory base, Path out, SafetensorsDType dtype) throws IOException {
        if (merged.namedModules().values().stream().anyMatch(m -> m instanceof LoraLayer)) {
            throw new IllegalStateException("the model still has LoRA layers: merge and unload the adapters first");
        }
        Files.createDirectories(out);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        merged.namedParameters().forEach((name, v) -> tensors.put(name, v.value()));
        SafetensorsWriter.write(out.resolve("model.safetensors"), tensors, Map.of(), dtype);
        copy(base.dir().resolve(HfModelDirectory.CONFIG_FILE), out);
        if (base.generationConfig().isPresent()) copy(base.generationConfig().get(), out);
        for (Path p : base.tokenizerFiles()) copy(p, out);
    }

    private static void copy(Path file, Path outDir) throws IOException {
        Path tmp = outDir.resolve("." + file.getFileName() + ".tmp");
        Files.copy(file, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, outDir.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
