package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Parallel;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Puts a model's frozen linear weights into a narrower storage ({@link BaseDType}) before LoRA is injected, as
 * bitsandbytes' load_in_4bit / load_in_8bit do: every Linear and Conv1D weight, except the output layers
 * (lm_head, a classifier or score head) and whatever the caller keeps (modules trained in full), becomes a frozen
 * weight held quantized; biases stay F32. LoRA then wraps these layers unchanged.
 */
public final class QuantizedBase {
    /** Module names left in full precision, as bitsandbytes leaves the output layer (transformers' keys to not convert). */
    private static final List<String> OUTPUT_LAYERS = List.of("lm_head", "classifier", "score");

    /**
     * What was converted: layers, their weight elements, the bytes those weights took before and after, and the
     * largest rounding error of a weight, |stored − original|.
     */
    public record Summary(BaseDType dtype, int layers, long parameters, long bytesBefore, long bytesAfter, double maxAbsError) {
        public double bytesPerParameter() {
            return parameters == 0 ? 0 : (double) bytesAfter / parameters;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "base weights %s: %d linear layers, %,d weights, %.1f MiB -> %.1f MiB (%.3f bytes/weight, "
                    + "max rounding error %.3g)", dtype.name().toLowerCase(Locale.ROOT), layers, parameters, bytesBefore / 1048576.0,
                bytesAfter / 1048576.0, bytesPerParameter(), maxAbsError);
        }
    }

    private QuantizedBase() {}

    /**
     * Converts, in place, every linear layer of {@code root} whose path {@code keep} does not reject and that is not
     * an output layer. The converted weights are frozen (they get no gradient; a quantized weight could not take one).
     */
    public static Summary apply(Module root, BaseDType dtype, Predicate<String> keep) {
        List<String> paths = new ArrayList<>();
        for (Map.Entry<String, Module> e : root.namedModules().entrySet()) {
            String path = e.getKey();
            if (path.isEmpty() || isOutputLayer(path) || !keep.test(path)) continue;
            if (e.getValue() instanceof Linear || e.getValue() instanceof Conv1D) paths.add(path);
        }
        // Layers are independent: quantize them on the kernel threads (MiniLM's 36 take about a second alone).
        Module[] converted = new Module[paths.size()];
        double[] error = new double[paths.size()];
        Parallel.parallelFor(0, paths.size(), i -> {
            Module m = root.get(paths.get(i));
            Variable w = m.localParameters().get("weight");
            Variable stored = frozen(dtype, w);
            error[i] = maxAbsDiff(w.value(), stored.value());
            // The F32/BF16 pages of a weight read from a mapped checkpoint are no longer needed once it is stored
            // anew: drop them from this process's resident set (they stay in the page cache, and would fault back
            // in from the file if a tied module still read them).
            MemorySegment seg = w.value().segment();
            if (stored.value() != w.value() && seg != null && seg.isMapped()) seg.unload();
            converted[i] = switch (m) {
                case Linear lin -> new Linear(stored, lin.bias());
                case Conv1D conv -> new Conv1D(stored, conv.bias());
                default -> throw new IllegalStateException("unreachable");
            };
        });
        long params = 0, before = 0, after = 0;
        double maxError = 0;
        for (int i = 0; i < paths.size(); i++) {
            Variable w = root.get(paths.get(i)).localParameters().get("weight");
            params += w.size();
            before += w.value().storageBytes();
            after += converted[i].localParameters().get("weight").value().storageBytes();
            maxError = Math.max(maxError, error[i]);
            root.replace(paths.get(i), converted[i]);
        }
        return new Summary(dtype, paths.size(), params, before, after, maxError);
    }

    /**
     * Converts the base as the trainers do before injecting LoRA: every linear layer except the output layers and
     * the modules trained in full ({@code modulesToSave}, matched as {@link LoraConfig#modulesToSave()} names them:
     * the module itself, anything under it, or a path segment of that name).
     */
    public static Summary applyExcept(Module root, BaseDType dtype, List<String> modulesToSave) {
        return apply(root, dtype, path -> !inAny(path, modulesToSave));
    }

    private static boolean inAny(String path, List<String> modules) {
        for (String m : modules) {
            if (path.equals(m) || path.startsWith(m + ".") || path.endsWith("." + m) || path.contains("." + m + ".")) return true;
        }
        return false;
    }

    /** max |a − b|, read without leaving a heap copy in either tensor. */
    private static double maxAbsDiff(Tensor a, Tensor b) {
        if (a == b) return 0;
        float[] x = BaseDType.floatsOf(a), y = BaseDType.floatsOf(b);
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
        return m;
    }

    private static Variable frozen(BaseDType dtype, Variable w) {
        Tensor stored = dtype.store(w.value());
        return new Variable(stored, false);
    }

    private static boolean isOutputLayer(String path) {
        for (String n : OUTPUT_LAYERS) if (path.equals(n) || path.endsWith("." + n)) return true;
        return false;
    }
}
