package dev.lora4j.cli;

import dev.lora4j.inspect.AdapterSummary;
import dev.lora4j.inspect.CheckpointSummary;
import dev.lora4j.inspect.ModelSummary;
import dev.lora4j.model.PretrainedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * `lora4j inspect MODEL_OR_ADAPTER`: for an adapter, the modules it adapts, their ranks and parameter counts and
 * its size; for a model, its parameters per layer type beside what LoRA would add (the LoRA papers' table).
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = {"An adapter directory: per-module rank, tensor shapes, parameters; totals and size on disk.",
        "A model (built-in name, Hugging Face directory or Hub id): parameters per layer type, and what LoRA of rank --lora-r",
        "on every linear layer would add.",
        "A model .safetensors file (e.g. a CNN or LSTM from lora4j demo): one row per layer, kind, weight shape, parameters.",
        "Examples: lora4j inspect runs/minilm-topics-lora    lora4j inspect all-MiniLM-L6-v2 --lora-r 16"})
final class InspectCommand implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL_OR_ADAPTER", description = "a Peft adapter directory, a model, or a model .safetensors file")
    String target;

    @Option(names = "--lora-r", description = "the rank the model table's LoRA column assumes (default ${DEFAULT-VALUE})")
    int rank = 8;

    @Override
    public Integer call() throws Exception {
        Path dir = Path.of(target);
        if (Files.isRegularFile(dir.resolve("adapter_config.json"))) printAdapter(dir);
        else if (target.endsWith(".safetensors") && Files.isRegularFile(dir)) printCheckpoint(dir);
        else printModel();
        return 0;
    }

    private void printAdapter(Path dir) throws Exception {
        AdapterSummary s = AdapterSummary.read(dir);
        var c = s.config();
        // AdaLoRA ignores r: its ranks are init_r at the start and, per module, what the budget left (the table).
        String rank = "ADALORA".equals(c.path("peft_type").asText())
            ? "init_r=" + c.path("init_r").asText() + " target_r=" + c.path("target_r").asText() : "r=" + c.path("r").asText();
        System.out.printf(Locale.ROOT, "adapter %s: %s %s alpha=%s dropout=%s targets=%s task=%s base=%s%n", dir,
            c.path("peft_type").asText(), rank, c.path("lora_alpha").asText(), c.path("lora_dropout").asText(),
            c.path("target_modules"), c.path("task_type").asText(), c.path("base_model_name_or_path").asText());
        int width = s.modules().stream().mapToInt(m -> m.path().length()).max().orElse(10);
        System.out.printf(Locale.ROOT, "%-" + width + "s  %-13s %4s %12s  %s%n", "module", "kind", "rank", "parameters", "shapes");
        for (AdapterSummary.Module m : s.modules()) {
            System.out.printf(Locale.ROOT, "%-" + width + "s  %-13s %4s %,12d  %s%n", m.path(), m.kind(),
                m.rank() == 0 ? "-" : Integer.toString(m.rank()), m.parameters(), m.shapes());
        }
        System.out.printf(Locale.ROOT, "total: %,d parameters in %d modules; %.2f MB on disk%n", s.parameters(), s.modules().size(),
            s.bytesOnDisk() / 1e6);
    }

    private void printModel() throws Exception {
        ModelSummary s = ModelSummary.of(PretrainedModels.load(target), rank);
        int width = Math.max(10, s.types().stream().mapToInt(t -> t.pattern().length()).max().orElse(10));
        System.out.printf(Locale.ROOT, "model %s: %,d parameters%n", target, s.parameters());
        System.out.printf(Locale.ROOT, "%-" + width + "s  %-12s %5s %14s %14s %8s  %s%n", "layer type", "kind", "count", "parameters",
            "LoRA r=" + rank, "LoRA %", "shapes (one module)");
        for (ModelSummary.LayerType t : s.types()) {
            System.out.printf(Locale.ROOT, "%-" + width + "s  %-12s %5d %,14d %14s %8s  %s%n", t.pattern(), t.kind(), t.count(),
                t.parameters(), t.loraParameters() == 0 ? "-" : String.format(Locale.ROOT, "%,d", t.loraParameters()),
                t.loraParameters() == 0 ? "-" : String.format(Locale.ROOT, "%.2f%%", 100.0 * t.loraParameters() / t.parameters()), t.shapes());
        }
        System.out.printf(Locale.ROOT, "LoRA r=%d on every linear layer but the output (all-linear): %,d trainable parameters, %.3f%% of the model's %,d%n",
            rank, s.loraParameters(), 100.0 * s.loraParameters() / s.parameters(), s.parameters());
    }

    /**
     * A checkpoint file read without its model: one row per layer (conv, batch norm, linear, LSTM) with what LoRA
     * of rank --lora-r on it would add, as the LoRA papers' tables show for a ResNet's conv and fc layers.
     */
    private void printCheckpoint(Path file) throws Exception {
        CheckpointSummary s = CheckpointSummary.read(file);
        int width = Math.max(5, s.layers().stream().mapToInt(l -> l.path().length()).max().orElse(5));
        System.out.printf(Locale.ROOT, "%-" + width + "s  %-10s %-22s %12s %12s %8s%n", "layer", "kind", "weight shape", "parameters",
            "LoRA r=" + rank, "LoRA %");
        long lora = 0;
        for (CheckpointSummary.Layer l : s.layers()) {
            long add = l.loraPerRank() * rank;
            lora += add;
            System.out.printf(Locale.ROOT, "%-" + width + "s  %-10s %-22s %,12d %12s %8s%s%n", l.path(), l.kind(), l.shape(), l.parameters(),
                add == 0 ? "-" : String.format(Locale.ROOT, "%,d", add),
                add == 0 ? "-" : String.format(Locale.ROOT, "%.2f%%", 100.0 * add / l.parameters()),
                l.buffers() > 0 ? "  (+" + l.buffers() + " buffer values)" : "");
        }
        System.out.printf(Locale.ROOT, "total: %,d parameters in %d layers; %.2f MB on disk; LoRA r=%d on every conv, linear and LSTM matrix: %,d (%.2f%%)%n",
            s.parameters(), s.layers().size(), s.bytesOnDisk() / 1e6, rank, lora, 100.0 * lora / s.parameters());
    }
}
