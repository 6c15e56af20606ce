package dev.lora4j.peft;

import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A model prepared to serve many LoRA adapters in one batch: every linear layer is wrapped in a
 * {@link MultiAdapterLinear} (which costs nothing for rows without an adapter), adapters are read from Peft
 * directories into {@link ServedAdapter}s, and a forward pass run inside {@link #withSegments} applies each
 * adapter to its rows only. One forward at a time: the segments are the state of the pass in flight.
 */
public final class MultiAdapterModel {
    private final Module root;
    private final Map<String, MultiAdapterLinear> layers = new LinkedHashMap<>();
    private volatile AdapterSegments current;

    private MultiAdapterModel(Module root) {
        this.root = root;
    }

    /** Wraps every Linear and Conv1D of {@code root}, in place. The model must not carry training LoRA layers. */
    public static MultiAdapterModel wrap(Module root) {
        MultiAdapterModel m = new MultiAdapterModel(root);
        Supplier<AdapterSegments> segments = () -> m.current;
        List<String> paths = new ArrayList<>();
        for (var e : root.namedModules().entrySet()) {
            if (e.getValue() instanceof LoraLayer) {
                throw new IllegalArgumentException("module '" + e.getKey() + "' already has a training LoRA layer; serve a plain base model");
            }
            if (e.getValue() instanceof Linear || e.getValue() instanceof Conv1D) paths.add(e.getKey());
        }
        for (String path : paths) {
            MultiAdapterLinear w = new MultiAdapterLinear((LinearLayer) root.get(path), m.layers.size(), segments);
            root.replace(path, w);
            m.layers.put(path, w);
        }
        return m;
    }

    public Module model() {
        return root;
    }

    /** The wrapped layers by their module path in the base model (what adapter keys name). */
    public Map<String, MultiAdapterLinear> layers() {
        return java.util.Collections.unmodifiableMap(layers);
    }

    /** Runs one forward pass with rows assigned to adapters as {@code segments} say. */
    public <T> T withSegments(AdapterSegments segments, Supplier<T> forward) {
        current = segments;
        try {
            return forward.get();
        } finally {
            current = null;
        }
    }

    /** Merges the adapter into the base weights (the naive way to serve one adapter at a time). */
    public void merge(ServedAdapter adapter) {
        layers.values().forEach(l -> l.addDelta(adapter, 1f));
    }

    /** Takes a merged adapter out of the base weights again (exact up to float rounding). */
    public void unmerge(ServedAdapter adapter) {
        layers.values().forEach(l -> l.addDelta(adapter, -1f));
    }

    /**
     * Reads a Peft adapter directory for this model. As strict as {@link PeftAdapterReader}: every key must land
     * on a wrapped layer with the right shape and every layer the config targets must get its A and B, with all
     * problems reported together. Serving handles LoRA on linear layers; an adapter that also trains embeddings,
     * biases or whole modules (modules_to_save) is refused, since serving it without those would compute
     * something else.
     */
    public ServedAdapter read(String name, Path dir) throws IOException {
        LoraConfig config = PeftAdapterReader.readConfig(dir);
        Path configFile = dir.resolve("adapter_config.json");
        if (!config.modulesToSave().isEmpty()) {
            throw new IllegalArgumentException(configFile + ": modules_to_save " + config.modulesToSave()
                + " is not supported by serving (only LoRA on linear layers is batched across adapters)");
        }
        if (!config.rankPattern().isEmpty() || !config.alphaPattern().isEmpty()) {
            // Serving gives every layer of an adapter one rank and one scaling; per-module patterns would be misread.
            throw new IllegalArgumentException(configFile + ": rank_pattern/alpha_pattern (per-module ranks) are not supported by serving yet");
        }
        if (config.bias() != LoraConfig.Bias.NONE) {
            throw new IllegalArgumentException(configFile + ": bias '" + config.bias().name().toLowerCase(java.util.Locale.ROOT)
                + "' is not supported by serving; only bias 'none'");
        }
        Path file = dir.resolve(PeftAdapterWriter.WEIGHTS_FILE);
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no " + PeftAdapterWriter.WEIGHTS_FILE + " in " + dir);
        }
        int slots = layers.size(), r = config.r();
        float[][] a = new float[slots][], b = new float[slots][];
        List<String> problems = new ArrayList<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String key : f.names()) {
                String k = PeftAdapterReader.canonical(key);
                boolean isA = k.endsWith(".lora_A.weight"), isB = k.endsWith(".lora_B.weight");
                if (!k.startsWith(LoraModel.KEY_PREFIX) || !(isA || isB)) {
                    problems.add("unexpected key " + key + " (serving takes lora_A/lora_B weights of linear layers only)");
                    continue;
                }
                String path = k.substring(LoraModel.KEY_PREFIX.length(), k.length() - ".lora_A.weight".length());
                MultiAdapterLinear layer = layers.get(path);
                if (layer == null) {
                    problems.add("unexpected key " + key + ": the model has no linear layer '" + path + "'");
                    continue;
                }
                long[] shape = f.info(key).shape();
                long[] want = isA ? new long[] {r, layer.inFeatures()} : new long[] {layer.outFeatures(), r};
                if (!Arrays.equals(shape, want)) {
                    problems.add("size mismatch for " + key + ": " + Arrays.toString(shape) + " in the file, " + Arrays.toString(want)
                        + " expected (r=" + r + ")");
                    continue;
                }
                float[] data = f.tensor(key).data().clone();
                if (isA) a[layer.slot()] = data;
                else b[layer.slot()] = data;
            }
        }
        List<String> missing = new ArrayList<>();
        for (var e : layers.entrySet()) {
            int s = e.getValue().slot();
            boolean targeted = config.targetModules().matches(e.getKey())
                && !(config.targetModules() instanceof TargetModules.AllLinear && isOutputLayer(e.getKey()));
            if ((targeted || a[s] != null || b[s] != null) && (a[s] == null || b[s] == null)) {
                if (a[s] == null) missing.add(LoraModel.KEY_PREFIX + e.getKey() + ".lora_A.weight");
                if (b[s] == null) missing.add(LoraModel.KEY_PREFIX + e.getKey() + ".lora_B.weight");
            }
        }
        if (!missing.isEmpty()) problems.add(0, "Missing key(s): " + String.join(", ", missing));
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("Error(s) in loading adapter '" + name + "' from " + file + ":\n\t" + String.join("\n\t", problems));
        }
        boolean any = false;
        for (float[] x : a) any |= x != null;
        if (!any) throw new IllegalArgumentException(file + ": adapter '" + name + "' has no LoRA weights for this model");
        return new ServedAdapter(name, dir, config, a, b);
    }

    private static boolean isOutputLayer(String path) {
        return path.equals("lm_head") || path.endsWith(".lm_head");
    }
}
