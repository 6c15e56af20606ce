package dev.lora4j.bench;

import dev.lora4j.model.PretrainedModels;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Time and peak resident memory of loading a model, measured in a fresh JVM (one model per process). */
public final class LoadBenchmark {
    /** What loading cost. */
    public record Result(String model, double seconds, long parameters, long peakRssMb) {}

    private LoadBenchmark() {}

    public static Result run(String model) throws IOException {
        long start = System.nanoTime();
        long params;
        if (Files.isDirectory(Path.of(model))) {
            params = ((dev.lora4j.nn.Module) PretrainedModels.causalLm(Path.of(model))).parameterCount();
        } else {
            BertCheckpoint c = BertCheckpoint.builtin(model);
            params = new BertModel(c.config(), c.weights(), c.prefix(), false).parameterCount();
        }
        return new Result(model, (System.nanoTime() - start) / 1e9, params, peakRssMb());
    }

    /** The process's peak resident set (VmHWM), in MiB; -1 where /proc is not available. */
    public static long peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
