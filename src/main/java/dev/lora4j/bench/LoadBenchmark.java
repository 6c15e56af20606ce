package dev.lora4j.bench;

import dev.lora4j.autograd.Tape;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Time and peak resident memory of loading a model, measured in a fresh JVM (one model per process). */
public final class LoadBenchmark {
    /** What loading cost. */
    public record Result(String model, double seconds, long parameters, long peakRssMb, double forwardSeconds, long peakRssAfterForwardMb) {}

    private LoadBenchmark() {}

    /**
     * Loads {@code model}, then (so that every weight has really been read) runs one forward pass over 16
     * tokens, and reports both steps' time and the peak RSS after each.
     */
    public static Result run(String model) throws IOException {
        long start = System.nanoTime();
        long params;
        Runnable forward;
        int[] ids = new int[16];
        for (int i = 0; i < ids.length; i++) ids[i] = 1 + i;
        if (Files.isDirectory(Path.of(model))) {
            CausalLanguageModel lm = PretrainedModels.causalLm(Path.of(model));
            params = ((dev.lora4j.nn.Module) lm).parameterCount();
            forward = () -> lm.forward(ids, 1, ids.length, null);
        } else {
            BertCheckpoint c = BertCheckpoint.builtin(model);
            BertModel bert = new BertModel(c.config(), c.weights(), c.prefix(), false);
            params = bert.parameterCount();
            forward = () -> bert.forward(new BertModel.Batch(ids, new int[ids.length], ones(ids.length), 1, ids.length));
        }
        double loadSeconds = (System.nanoTime() - start) / 1e9;
        long loadRss = peakRssMb();
        long f0 = System.nanoTime();
        try (var s = Tape.noGrad()) {
            forward.run();
        }
        return new Result(model, loadSeconds, params, loadRss, (System.nanoTime() - f0) / 1e9, peakRssMb());
    }

    private static int[] ones(int n) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, 1);
        return a;
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
