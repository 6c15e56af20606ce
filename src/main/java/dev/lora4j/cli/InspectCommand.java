package dev.lora4j.cli;

import dev.lora4j.inspect.AdapterSummary;
import dev.lora4j.inspect.ModelSummary;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** `lora4j inspect ADAPTER_DIR`: the modules an adapter adapts, their ranks and parameter counts, its size. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = {"Per-module table of a saved adapter: rank, tensor shapes, parameters; totals and size on disk.",
        "Example: lora4j inspect runs/minilm-topics-lora"})
final class InspectCommand implements Callable<Integer> {
    @Parameters(paramLabel = "ADAPTER_DIR", description = "a Peft adapter directory (adapter_config.json, adapter_model.safetensors), "
        + "or a model .safetensors file (per-layer table)")
    Path dir;

    @Override
    public Integer call() throws Exception {
        if (dir.toString().endsWith(".safetensors")) return modelTable();
        AdapterSummary s = AdapterSummary.read(dir);
        var c = s.config();
        System.out.printf(Locale.ROOT, "adapter %s: %s r=%s alpha=%s dropout=%s targets=%s task=%s base=%s%n", dir,
            c.path("peft_type").asText(), c.path("r").asText(), c.path("lora_alpha").asText(), c.path("lora_dropout").asText(),
            c.path("target_modules"), c.path("task_type").asText(), c.path("base_model_name_or_path").asText());
        int width = s.modules().stream().mapToInt(m -> m.path().length()).max().orElse(10);
        System.out.printf(Locale.ROOT, "%-" + width + "s  %-13s %4s %12s  %s%n", "module", "kind", "rank", "parameters", "shapes");
        for (AdapterSummary.Module m : s.modules()) {
            System.out.printf(Locale.ROOT, "%-" + width + "s  %-13s %4s %,12d  %s%n", m.path(), m.kind(),
                m.rank() == 0 ? "-" : Integer.toString(m.rank()), m.parameters(), m.shapes());
        }
        System.out.printf(Locale.ROOT, "total: %,d parameters in %d modules; %.2f MB on disk%n", s.parameters(), s.modules().size(),
            s.bytesOnDisk() / 1e6);
        return 0;
    }

    /** A model checkpoint: one row per layer (kind, weight shape, parameters), as for a ResNet's conv and fc layers. */
    private int modelTable() throws Exception {
        ModelSummary s = ModelSummary.read(dir);
        int width = Math.max(5, s.layers().stream().mapToInt(l -> l.path().length()).max().orElse(5));
        System.out.printf(Locale.ROOT, "%-" + width + "s  %-10s %-22s %12s%n", "layer", "kind", "weight shape", "parameters");
        for (ModelSummary.Layer l : s.layers()) {
            System.out.printf(Locale.ROOT, "%-" + width + "s  %-10s %-22s %,12d%s%n", l.path(), l.kind(), l.shape(), l.parameters(),
                l.buffers() > 0 ? "  (+" + l.buffers() + " buffer values)" : "");
        }
        System.out.printf(Locale.ROOT, "total: %,d parameters in %d layers; %.2f MB on disk%n", s.parameters(), s.layers().size(), s.bytesOnDisk() / 1e6);
        return 0;
    }
}
