package dev.lora4j.bench;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.QuantizedBase;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * LoRA training steps on a decoder whose frozen base is stored as F32 (as loaded), BF16, INT8 or NF4 (QLoRA):
 * bytes of base weights per parameter, time per step (forward, cross-entropy, backward, SGD on the adapter) and
 * peak RSS. One configuration per JVM, so that the peak RSS is that configuration's.
 */
public final class BaseDTypeBenchmark {
    /** What one configuration cost; the linear-weight bytes are those QuantizedBase converted (all but lm_head). */
    public record Result(String model, String baseDType, int layers, long linearWeights, long linearBytesBefore, long linearBytesAfter,
                         double bytesPerWeight, double quantizeSeconds, int batch, int seq, int steps, double secondsPerStep,
                         double tokensPerSecond, double firstLoss, double lastLoss, long peakRssMb, long rssAfterMb, long heapAfterGcMb) {}

    private BaseDTypeBenchmark() {}

    public static Result run(Path modelDir, BaseDType dtype, String targets, int batch, int seq, int warmup, int steps)
            throws IOException {
        CausalLanguageModel lm = PretrainedModels.causalLm(modelDir);
        Module root = (Module) lm;
        long t0 = System.nanoTime();
        QuantizedBase.Summary s = QuantizedBase.apply(root, dtype, path -> true);
        double quantizeSeconds = (System.nanoTime() - t0) / 1e9;
        LoraModel lora = LoraModel.inject(root, LoraConfig.of(8, 16, targets).withDropout(0), 1);
        List<Variable> trainable = lora.trainableVariables();
        root.train(true);
        // Random tokens, next-token labels: the work is the same as on text of this length.
        SplittableRandom rnd = new SplittableRandom(3);
        int vocab = vocabularySize(root);
        int[] ids = new int[batch * seq], labels = new int[batch * seq];
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(vocab);
        for (int i = 0; i < ids.length; i++) labels[i] = (i + 1) % seq == 0 ? -100 : ids[i + 1];
        double first = Double.NaN, last = Double.NaN;
        long start = 0;
        for (int step = 0; step < warmup + steps; step++) {
            if (step == warmup) start = System.nanoTime();
            Variable loss = Ops.crossEntropy(lm.forward(ids, batch, seq, null), labels, -100);
            Tape.current().backward(loss);
            for (Variable v : trainable) {
                float[] w = v.data(), g = v.grad();
                if (g == null) continue;
                for (int i = 0; i < w.length; i++) w[i] -= 1e-3f * g[i];
                v.zeroGrad();
            }
            if (step == 0) first = loss.data()[0];
            last = loss.data()[0];
        }
        double perStep = (System.nanoTime() - start) / 1e9 / steps;
        // The heap still reachable after a full GC: what this configuration needs to keep, whatever the GC let pile up.
        System.gc();
        Runtime rt = Runtime.getRuntime();
        long heapAfterGc = (rt.totalMemory() - rt.freeMemory()) >> 20;
        // The model is not used after the loop: without this fence the GC above may already have freed it.
        java.lang.ref.Reference.reachabilityFence(lm);
        java.lang.ref.Reference.reachabilityFence(lora);
        return new Result(modelDir.getFileName().toString(), dtype.name().toLowerCase(java.util.Locale.ROOT), s.layers(), s.parameters(),
            s.bytesBefore(), s.bytesAfter(), s.parameters() == 0 ? 4.0 : s.bytesPerParameter(), quantizeSeconds, batch, seq, steps,
            perStep, batch * seq / perStep, first, last, LoadBenchmark.peakRssMb(), rssMb(), heapAfterGc);
    }

    /** The process's current resident set (VmRSS), in MiB; -1 where /proc is not available. */
    static long rssMb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** The number of rows of the input embedding table. */
    private static int vocabularySize(Module root) {
        for (var e : root.namedParameters().entrySet()) {
            if (e.getKey().endsWith("embed_tokens.weight") || e.getKey().endsWith("wte.weight")) return e.getValue().shape().dim(0);
        }
        throw new IllegalArgumentException("no token embedding found");
    }
}
