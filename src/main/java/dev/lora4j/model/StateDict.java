package dev.lora4j.model;

import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.nn.BatchNorm2d;
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A module tree's state under PyTorch's state_dict names: every parameter plus the buffers of batch norms
 * ({@code running_mean}, {@code running_var}, {@code num_batches_tracked}), saved to and loaded from
 * safetensors. Loading is strict like {@code load_state_dict(strict=True)}: every name must be present with the
 * model's shape and nothing may be left over; all problems are reported at once.
 */
public final class StateDict {
    private StateDict() {}

    /** The tensors by torch name; parameters are shared, not copied (the map reads the live model). */
    public static Map<String, Tensor> of(Module root) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        root.namedModules().forEach((path, m) -> {
            m.localParameters().forEach((k, v) -> out.put(join(path, k), v.value()));
            if (m instanceof BatchNorm2d bn) bn.buffers().forEach((k, t) -> out.put(join(path, k), t));
        });
        return out;
    }

    private static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    /** Writes the state as F32 safetensors (num_batches_tracked too; torch's load_state_dict casts it back to int64). */
    public static void save(Module root, Path file) throws IOException {
        SafetensorsWriter.write(file, of(root), Map.of());
    }

    /** Loads a safetensors checkpoint written by {@link #save} or by PyTorch (F32/F16/BF16; integer num_batches_tracked). */
    public static void load(Module root, Path file) throws IOException {
        Map<String, Tensor> want = of(root);
        List<String> missing = new ArrayList<>(want.keySet()), unexpected = new ArrayList<>(), errors = new ArrayList<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                Tensor target = want.get(name);
                if (target == null) {
                    unexpected.add(name);
                    continue;
                }
                missing.remove(name);
                long[] shape = f.info(name).shape();
                if (name.endsWith("num_batches_tracked")) {
                    // A scalar in torch (shape []), [1] here; either holds one count.
                    values.put(name, new float[] {f.info(name).dtype().isIntegral() ? f.longs(name)[0] : f.tensor(name).data()[0]});
                    continue;
                }
                if (!Arrays.equals(shape, Arrays.stream(target.shape().dims()).asLongStream().toArray())) {
                    errors.add("size mismatch for " + name + ": checkpoint " + Arrays.toString(shape) + ", model " + target.shape());
                    continue;
                }
                values.put(name, f.tensor(name).data());
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !errors.isEmpty()) {
            StringBuilder sb = new StringBuilder("Error(s) loading " + file + ":");
            if (!missing.isEmpty()) sb.append("\n\tMissing key(s): ").append(String.join(", ", missing));
            if (!unexpected.isEmpty()) sb.append("\n\tUnexpected key(s): ").append(String.join(", ", unexpected));
            errors.forEach(e -> sb.append("\n\t").append(e));
            throw new IllegalArgumentException(sb.toString());
        }
        Map<String, BatchNorm2d> norms = new LinkedHashMap<>();
        root.namedModules().forEach((p, m) -> { if (m instanceof BatchNorm2d bn) norms.put(p, bn); });
        values.forEach((name, v) -> {
            if (name.endsWith("num_batches_tracked")) {
                norms.get(name.substring(0, name.lastIndexOf('.'))).setNumBatchesTracked((long) v[0]);
            } else {
                float[] dst = want.get(name).data();
                System.arraycopy(v, 0, dst, 0, dst.length);
            }
        });
    }

    /** Copies every value of {@code from} into {@code to} (same architecture): a deep copy of the weights. */
    public static void copy(Module from, Module to) {
        Map<String, Tensor> src = of(from), dst = of(to);
        if (!src.keySet().equals(dst.keySet())) throw new IllegalArgumentException("copy: the two models have different state names");
        src.forEach((k, t) -> {
            if (k.endsWith("num_batches_tracked")) return;
            System.arraycopy(t.data(), 0, dst.get(k).data(), 0, t.size());
        });
    }

    /** The trainable variables of a tree, in a stable order. */
    public static List<Variable> trainable(Module root) {
        return root.namedParameters().values().stream().filter(Variable::requiresGrad).toList();
    }
}
