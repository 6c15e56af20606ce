package dev.lora4j.inspect;

import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.io.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-layer table of a model checkpoint (a safetensors file with PyTorch state_dict names), read from the
 * file without building the model: one row per layer (the module path before {@code .weight}/{@code .bias}/...)
 * with its kind guessed from its tensors (convolution, linear, batch norm, LSTM, embedding), its weight shape and
 * its parameter count. Batch-norm buffers are shown but not counted as parameters, as PyTorch counts them.
 */
public record CheckpointSummary(Path file, List<Layer> layers, long parameters, long bytesOnDisk) {

    /**
     * One layer: path, kind, the shape of its main weight, parameters (weights and biases), buffer elements, and
     * what LoRA of rank 1 on its weight adds (a conv's A [1, in, kh, kw] and B [out, 1, 1, 1]; a linear's or LSTM
     * matrix's A [1, in] and B [out, 1]; 0 where lora4j puts no LoRA): multiply by r for rank r.
     */
    public record Layer(String path, String kind, String shape, long parameters, long buffers, long loraPerRank) {}

    private static final List<String> BUFFERS = List.of("running_mean", "running_var", "num_batches_tracked");

    public static CheckpointSummary read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": not a file");
        Map<String, List<TensorInfo>> byLayer = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                TensorInfo t = f.info(name);
                String leaf = name.substring(name.lastIndexOf('.') + 1);
                String layer = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : "";
                // An LSTM's parameters sit directly on the module: one row per layer and direction (weight_ih_l0, ...).
                if (leaf.matches("(weight|bias)_(ih|hh)_l\\d+(_reverse)?")) layer = layer + "[" + leaf.replaceAll("^(weight|bias)_(ih|hh)_", "") + "]";
                byLayer.computeIfAbsent(layer, k -> new ArrayList<>()).add(t);
            }
        }
        // The file's order is alphabetical; list layers in a stable, readable order: by path with numeric parts as numbers.
        List<String> order = new ArrayList<>(byLayer.keySet());
        order.sort(CheckpointSummary::compareNatural);
        List<Layer> layers = new ArrayList<>();
        long total = 0;
        for (String path : order) {
            List<TensorInfo> ts = byLayer.get(path);
            long params = 0, buffers = 0;
            String kind = "parameters", shape = "";
            long lora = 0;
            for (TensorInfo t : ts) {
                String leaf = t.name().substring(t.name().lastIndexOf('.') + 1);
                long[] d = t.shape();
                // A [r, in·kernel] and B [out, r] of the weight: r·(fan_in + out).
                boolean adaptable = leaf.startsWith("weight_ih") || leaf.startsWith("weight_hh")
                    || (leaf.equals("weight") && (d.length == 4 || d.length == 3 || (d.length == 2 && !path.contains("emb"))));
                if (adaptable) lora += t.elementCount() / d[0] + d[0];
                if (BUFFERS.contains(leaf)) {
                    buffers += t.elementCount();
                    kind = "batch norm";
                    continue;
                }
                params += t.elementCount();
                if (leaf.startsWith("weight_ih")) {
                    kind = "lstm";
                    shape = Arrays.toString(t.shape()) + shape;
                } else if (leaf.startsWith("weight_hh")) {
                    shape = shape + " " + Arrays.toString(t.shape());
                } else if (leaf.equals("weight")) {
                    shape = Arrays.toString(t.shape());
                    if (!kind.equals("batch norm")) {
                        kind = switch (t.rank()) {
                            case 4 -> "conv2d";
                            case 3 -> "conv1d";
                            case 2 -> path.contains("emb") ? "embedding" : "linear";
                            default -> kind;
                        };
                    }
                }
            }
            layers.add(new Layer(path, kind, shape, params, buffers, kind.equals("batch norm") ? 0 : lora));
            total += params;
        }
        return new CheckpointSummary(file, layers, total, Files.size(file));
    }

    static int compareNatural(String a, String b) {
        String[] pa = a.split("[.\\[\\]]"), pb = b.split("[.\\[\\]]");
        for (int i = 0; i < Math.min(pa.length, pb.length); i++) {
            int c = pa[i].matches("\\d+") && pb[i].matches("\\d+") ? Integer.compare(Integer.parseInt(pa[i]), Integer.parseInt(pb[i])) : pa[i].compareTo(pb[i]);
            if (c != 0) return c;
        }
        return Integer.compare(pa.length, pb.length);
    }
}
