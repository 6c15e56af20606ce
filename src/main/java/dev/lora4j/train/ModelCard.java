package dev.lora4j.train;

import dev.lora4j.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * The README.md written beside a trained adapter, as Hugging Face model cards are: YAML front matter (base model,
 * library, tags) and what a reader wants to know: the base model, the data, the command, the results, how to use it.
 *
 * @param baseModel  the model the adapter was trained on (name, directory or Hub id)
 * @param task       causal-lm, classification or embedding
 * @param method     lora, full, head, ...
 * @param data       where the training data came from
 * @param command    the command line that trained it
 * @param parameters the trainable-parameter line (counts and %, as Peft prints it)
 * @param metrics    the run's summary, by name (the same object train --json prints)
 */
public record ModelCard(String baseModel, String task, String method, String data, String command, String parameters,
                        Map<String, Object> metrics) {

    public static final String FILE = "README.md";

    public String render() {
        StringBuilder s = new StringBuilder();
        s.append("---\n");
        s.append("base_model: ").append(yamlString(baseModel)).append('\n');
        s.append("library_name: ").append(library(method)).append('\n');
        s.append("tags:\n  - lora4j\n  - ").append(method).append("\n  - ").append(task).append('\n');
        s.append("---\n\n");
        s.append("# ").append(method).append(" fine-tune of ").append(baseModel).append("\n\n");
        s.append("Trained with lora4j (LoRA in pure Java) for ").append(task).append(" on ").append(data).append(".\n\n");
        s.append("## Results\n\n| metric | value |\n|---|---|\n");
        metrics.forEach((k, v) -> {
            if (v instanceof Number) s.append("| ").append(k).append(" | ").append(format(v)).append(" |\n");
        });
        s.append("\n## Training\n\n");
        s.append("- ").append(parameters).append('\n');
        s.append("- command: `").append(command).append("`\n");
        s.append("- files: adapter_config.json and adapter_model.safetensors (Peft's format), training_args.json, ")
            .append("metrics.jsonl (every step and evaluation), loss.png\n\n");
        s.append("## Use\n\n```\n");
        switch (task) {
            case "causal-lm" -> s.append("lora4j generate --model ").append(baseModel).append(" --adapter <this directory> --prompt \"...\"\n");
            case "embedding" -> s.append("lora4j embed --model ").append(baseModel).append(" --adapter <this directory> --input texts.txt\n");
            default -> s.append("lora4j eval --model ").append(baseModel).append(" --adapter <this directory> --data test.jsonl\n");
        }
        s.append("```\n");
        if (library(method).equals("peft")) {
            s.append("\nIn Python: `PeftModel.from_pretrained(base_model, \"<this directory>\")` with the matching transformers class.\n");
        }
        return s.toString();
    }

    public void write(Path dir) throws IOException {
        AtomicFiles.writeString(dir.resolve(FILE), render());
    }

    private static String library(String method) {
        return method.equals("full") || method.equals("head") ? "lora4j" : "peft";
    }

    private static String yamlString(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static String format(Object v) {
        if (v instanceof Double d) return Double.isFinite(d) ? String.format(Locale.ROOT, "%.4f", d) : "n/a";
        if (v instanceof Float f) return String.format(Locale.ROOT, "%.4f", f);
        return String.valueOf(v);
    }
}
