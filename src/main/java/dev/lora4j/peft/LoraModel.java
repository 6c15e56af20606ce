package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.Lstm;
import dev.lora4j.nn.conv.ConvLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A model with LoRA injected (Peft's LoraModel): finds the target layers by name, wraps them, freezes the
 * base, and manages named adapters over the whole tree: add, activate, disable, delete, merge, unmerge,
 * unload. Adapter weights are exposed under Peft's checkpoint keys.
 */
public final class LoraModel {
    /** Module names treated as the output layer, which all-linear leaves alone (as Peft does with lm_head). */
    private static final List<String> OUTPUT_LAYER_NAMES = List.of("lm_head");
    /** Peft's prefix of every adapter key: PeftModel.base_model (LoraModel) .model (the HF model). */
    public static final String KEY_PREFIX = "base_model.model.";

    private final Module root;
    private final Map<String, LoraConfig> configs = new LinkedHashMap<>();
    private final long seed;
    private String active;

    private LoraModel(Module root, long seed) {
        this.root = root;
        this.seed = seed;
    }

    /** Injects adapter "default" into {@code root} (in place) and freezes everything else. */
    public static LoraModel inject(Module root, LoraConfig config, long seed) {
        LoraModel m = new LoraModel(root, seed);
        m.addAdapter("default", config);
        return m;
    }

    /** Like {@link #inject(Module, LoraConfig, long)}, with the adapter named {@code adapterName}. */
    public static LoraModel inject(Module root, String adapterName, LoraConfig config, long seed) {
        LoraModel m = new LoraModel(root, seed);
        m.addAdapter(adapterName, config);
        return m;
    }

    /** Injects AdaLoRA adapter {@code adapterName} ({@code config.r()} is init_r) and freezes everything else. */
    public static LoraModel injectAdaLora(Module root, String adapterName, LoraConfig config, long seed) {
        LoraModel m = new LoraModel(root, seed);
        m.addAdaLoraAdapter(adapterName, config);
        return m;
    }

    /** Injects GLoRA adapter {@code adapterName} (see {@link GloraLinear}; {@code config.r()} is the rank of A and B). */
    public static LoraModel injectGlora(Module root, String adapterName, LoraConfig config, long seed) {
        LoraModel m = new LoraModel(root, seed);
        m.addAdapter(adapterName, config, Kind.GLORA);
        return m;
    }

    /** Which layer a target gets: Peft's LoraLayer family, AdaLoRA's SVDLinear, or GLoRA's. */
    private enum Kind { LORA, ADALORA, GLORA }

    public Module model() {
        return root;
    }

    /**
     * Adds an adapter: wraps every target layer (or adds to its existing wrapper), then sets trainability so
     * that exactly the active adapter's LoRA weights, its modules_to_save and its chosen biases train.
     */
    public void addAdapter(String name, LoraConfig config) {
        addAdapter(name, config, Kind.LORA);
    }

    /**
     * Adds an AdaLoRA adapter (Peft's SVDLinear on every target): {@code config.r()} is its init_r. See
     * {@link AdaLora} for the training side.
     */
    public void addAdaLoraAdapter(String name, LoraConfig config) {
        addAdapter(name, config, Kind.ADALORA);
    }

    private void addAdapter(String name, LoraConfig config, Kind kind) {
        boolean adaLora = kind == Kind.ADALORA, glora = kind == Kind.GLORA;
        if (configs.containsKey(name)) throw new IllegalArgumentException("adapter '" + name + "' already exists");
        List<String> targets = findTargets(config);
        SplittableRandom rnd = new SplittableRandom(seed ^ name.hashCode());
        for (String path : targets) {
            Module m = root.get(path);
            if (m instanceof LoraLayer existing && kindOf(existing) != kind) {
                throw new IllegalArgumentException("module '" + path + "' has " + kindOf(existing) + " adapters already; "
                    + kind + " adapters do not mix with them on one layer");
            }
            if (glora && !(m instanceof Linear || m instanceof GloraLinear)) {
                throw new IllegalArgumentException("GLoRA adapts Linear layers only here; '" + path + "' is a "
                    + m.getClass().getSimpleName());
            }
            if (adaLora && !(m instanceof Linear || m instanceof Conv1D || m instanceof AdaLoraLinear)) {
                throw new IllegalArgumentException("AdaLoRA adapts linear layers only here; '" + path + "' is a "
                    + m.getClass().getSimpleName());
            }
            LoraLayer layer = switch (m) {
                case LoraLayer existing -> existing;
                case Linear lin when glora -> {
                    GloraLinear w = new GloraLinear(lin);
                    root.replace(path, w);
                    yield w;
                }
                case Linear lin when adaLora -> {
                    AdaLoraLinear w = new AdaLoraLinear(lin, seed ^ path.hashCode());
                    root.replace(path, w);
                    yield w;
                }
                case Conv1D conv when adaLora -> {
                    AdaLoraLinear w = new AdaLoraLinear(conv, seed ^ path.hashCode());
                    root.replace(path, w);
                    yield w;
                }
                case Linear lin -> {
                    LoraLinear w = new LoraLinear(lin, seed ^ path.hashCode());
                    root.replace(path, w);
                    yield w;
                }
                case Conv1D conv -> {
                    LoraConv1D w = new LoraConv1D(conv, seed ^ path.hashCode());
                    root.replace(path, w);
                    yield w;
                }
                case Embedding emb -> {
                    LoraEmbedding w = new LoraEmbedding(emb);
                    root.replace(path, w);
                    yield w;
                }
                case ConvLayer conv -> {
                    LoraConv w = new LoraConv(conv, seed ^ path.hashCode());
                    root.replace(path, w);
                    yield w;
                }
                case Lstm lstm -> {
                    LoraLstm w = new LoraLstm(lstm);
                    root.replace(path, w);
                    yield w;
                }
                default -> throw new IllegalStateException("unreachable: " + m.getClass());
            };
            // rank_pattern / alpha_pattern resolve here, so each layer sees just its own r and alpha.
            layer.addAdapter(name, config.forModule(path), rnd.split());
        }
        configs.put(name, config);
        if (active == null) active = name;
        setActiveAdapter(active);
    }

    private static Kind kindOf(LoraLayer l) {
        return l instanceof AdaLoraLinear ? Kind.ADALORA : l instanceof GloraLinear ? Kind.GLORA : Kind.LORA;
    }

    /** True when adapter {@code name} is a GLoRA one (saved with peft_type GLORA). */
    public boolean isGlora(String name) {
        requireConfig(name);
        for (LoraLayer l : loraLayers()) if (l instanceof GloraLinear && l.adapterNames().contains(name)) return true;
        return false;
    }

    /** The dotted paths the config's target_modules select, or a clear error naming what could have matched. */
    private List<String> findTargets(LoraConfig config) {
        List<String> out = new ArrayList<>(), candidates = new ArrayList<>();
        for (var e : root.namedModules().entrySet()) {
            String path = e.getKey();
            Module m = e.getValue();
            boolean linear = m instanceof Linear || m instanceof LoraLinear || m instanceof Conv1D || m instanceof LoraConv1D
                || m instanceof AdaLoraLinear || m instanceof GloraLinear;
            boolean embedding = m instanceof Embedding || m instanceof LoraEmbedding;
            // Convolutions and LSTMs are targeted by name only; all-linear leaves them alone, as Peft's does.
            boolean convOrRecurrent = m instanceof ConvLayer || m instanceof Lstm || m instanceof LoraLstm;
            if (!(linear || embedding || convOrRecurrent) || insideLoraWrapper(path)) continue;
            candidates.add(path);
            // Modules trained in full (modules_to_save) are never also wrapped: their weights would train twice over.
            boolean selected = !inModulesToSave(path, config) && switch (config.targetModules()) {
                case TargetModules.AllLinear a -> linear && !isOutputLayer(path);
                default -> config.targetModules().matches(path);
            };
            if (selected) out.add(path);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("target_modules " + describe(config.targetModules())
                + " matched no linear, embedding, convolution or LSTM layer; the model has: " + abbreviate(candidates));
        }
        return out;
    }

    private boolean insideLoraWrapper(String path) {
        int dot = path.lastIndexOf('.');
        while (dot > 0) {
            path = path.substring(0, dot);
            if (root.get(path) instanceof LoraLayer) return true;
            dot = path.lastIndexOf('.');
        }
        return false;
    }

    /** Whether the module at {@code path} is the model's output layer, which all-linear leaves alone (as Peft does). */
    public static boolean isOutputLayer(String path) {
        for (String n : OUTPUT_LAYER_NAMES) if (path.equals(n) || path.endsWith("." + n)) return true;
        return false;
    }

    /** True when the module at {@code path}, or one of its ancestors, is named in modules_to_save. */
    private static boolean inModulesToSave(String path, LoraConfig c) {
        for (String p = path; !p.isEmpty(); p = p.contains(".") ? p.substring(0, p.lastIndexOf('.')) : "") {
            for (String n : c.modulesToSave()) if (p.equals(n) || p.endsWith("." + n)) return true;
        }
        return false;
    }

    private static String describe(TargetModules t) {
        return switch (t) {
            case TargetModules.Names n -> n.names().toString();
            case TargetModules.Regex r -> "regex '" + r.regex() + "'";
            case TargetModules.AllLinear a -> "all-linear";
        };
    }

    private static String abbreviate(List<String> paths) {
        if (paths.isEmpty()) return "(none)";
        // Show distinct leaf names first: they are what one writes in target_modules.
        List<String> leaves = paths.stream().map(p -> p.substring(p.lastIndexOf('.') + 1)).distinct().toList();
        return "names " + leaves + " (e.g. " + paths.get(0) + ")";
    }

    public List<LoraLayer> loraLayers() {
        List<LoraLayer> out = new ArrayList<>();
        for (Module m : root.namedModules().values()) if (m instanceof LoraLayer l) out.add(l);
        return out;
    }

    private Map<String, LoraLayer> loraLayersByPath() {
        Map<String, LoraLayer> out = new LinkedHashMap<>();
        root.namedModules().forEach((p, m) -> { if (m instanceof LoraLayer l) out.put(p, l); });
        return out;
    }

    public String activeAdapter() {
        return active;
    }

    public Map<String, LoraConfig> configs() {
        return Map.copyOf(configs);
    }

    /** Makes {@code name} the adapter that forward uses and that trains; all other weights are frozen. */
    public void setActiveAdapter(String name) {
        LoraConfig config = requireConfig(name);
        active = name;
        root.setTrainable(false);
        for (var e : loraLayersByPath().entrySet()) {
            LoraLayer layer = e.getValue();
            if (layer.adapterNames().contains(name)) {
                layer.setActiveAdapters(List.of(name));
                // LoRA-FA keeps A (Linear) or A of the embedding at its initialisation: only B (and DoRA's m) train.
                layer.adapterParameters(name).forEach((key, p) ->
                    p.setRequiresGrad(!(config.freezeA() && (key.startsWith("lora_A.") || key.startsWith("lora_embedding_A")))));
            } else {
                layer.setActiveAdapters(List.of());
            }
        }
        for (var e : root.namedParameters().entrySet()) {
            String path = e.getKey();
            boolean isBias = path.endsWith(".bias") || path.equals("bias");
            boolean train = switch (config.bias()) {
                case ALL -> isBias;
                case LORA_ONLY -> isBias && path.contains(".base_layer.");
                case NONE -> false;
            };
            if (train || inModulesToSave(path, config)) e.getValue().setRequiresGrad(true);
        }
    }

    private LoraConfig requireConfig(String name) {
        LoraConfig c = configs.get(name);
        if (c == null) throw new IllegalArgumentException("no adapter '" + name + "'; adapters: " + configs.keySet());
        return c;
    }

    /** Base model only while the scope is open: {@code try (var s = lora.disableAdapters()) { ... }}. */
    public AutoCloseableScope disableAdapters() {
        loraLayers().forEach(l -> l.setDisabled(true));
        return () -> loraLayers().forEach(l -> l.setDisabled(false));
    }

    /** A scope whose close throws nothing. */
    public interface AutoCloseableScope extends AutoCloseable {
        @Override
        void close();
    }

    public void deleteAdapter(String name) {
        requireConfig(name);
        for (var e : loraLayersByPath().entrySet()) {
            if (e.getValue().adapterNames().contains(name)) e.getValue().deleteAdapter(name);
        }
        configs.remove(name);
        if (name.equals(active)) {
            active = configs.isEmpty() ? null : configs.keySet().iterator().next();
            if (active != null) setActiveAdapter(active);
        }
    }

    /** Merges the active adapter into the base weights (forward then costs nothing extra). */
    public void merge() {
        for (LoraLayer l : loraLayers()) if (l.adapterNames().contains(active)) l.merge(List.of(active));
    }

    public void unmerge() {
        loraLayers().forEach(LoraLayer::unmerge);
    }

    /** Merges the active adapter and puts the plain base layers back: the result is a model without LoRA. */
    public Module mergeAndUnload() {
        merge();
        return unload();
    }

    /** Puts the plain base layers back (merged deltas stay in their weights, unmerged adapters are dropped). */
    public Module unload() {
        for (var e : loraLayersByPath().entrySet()) root.replace(e.getKey(), e.getValue().baseLayer());
        configs.clear();
        active = null;
        return root;
    }

    /**
     * True when some layer carrying adapter {@code name} wraps a Conv1D (GPT-2): Peft then sets fan_in_fan_out
     * in the adapter's config, and so does {@link PeftAdapterWriter}.
     */
    public boolean fanInFanOut(String name) {
        for (LoraLayer l : loraLayers()) if ((l instanceof LoraConv1D || l instanceof AdaLoraLinear a && a.baseLayer() instanceof Conv1D)
            && l.adapterNames().contains(name)) return true;
        return false;
    }

    public TrainableParameters trainableParameters() {
        return TrainableParameters.of(root);
    }

    /** The trainable variables, in a stable order (what the optimizer gets). */
    public List<Variable> trainableVariables() {
        return root.namedParameters().values().stream().filter(Variable::requiresGrad).toList();
    }

    /**
     * The adapter's weights under the keys Peft's save_pretrained writes: {@code base_model.model.<path>.lora_A.weight}
     * and so on, plus modules_to_save and trained biases as {@code base_model.model.<path>.weight}.
     */
    public Map<String, Tensor> adapterStateDict(String name) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        adapterVariables(name).forEach((k, v) -> out.put(k, v.value()));
        return out;
    }

    /**
     * A PiSSA adapter as a plain LoRA adapter on the ORIGINAL base weights, as Peft's save_pretrained with
     * path_initial_model_for_weight_conversion writes it: A' = [A; A0] (rows), B' = [B, −B0] (columns), so that
     * B'·A' = B·A − B0·A0 and original W + scaling·B'·A' = residual W + scaling·B·A. The rank doubles; the
     * config must double alpha as well (√2·alpha with rsLoRA) to keep the scaling, see {@link #pissaConvertedConfig}.
     */
    Map<String, Tensor> pissaConvertedStateDict(String name) {
        Map<String, Tensor> out = adapterStateDict(name);
        for (var e : loraLayersByPath().entrySet()) {
            if (!(e.getValue() instanceof LoraLinearBase<?> layer) || !layer.adapterNames().contains(name)) continue;
            Pissa.Factors init = layer.pissaInitial(name);
            if (init == null) continue;
            String key = KEY_PREFIX + e.getKey() + ".";
            Tensor a = out.get(key + "lora_A.weight"), b = out.get(key + "lora_B.weight");
            int r = a.shape().dim(0), in = a.shape().dim(1), outDim = b.shape().dim(0);
            float[] a2 = new float[2 * r * in];
            System.arraycopy(a.data(), 0, a2, 0, r * in);
            System.arraycopy(init.a(), 0, a2, r * in, r * in);
            float[] b2 = new float[outDim * 2 * r];
            for (int o = 0; o < outDim; o++) {
                for (int k = 0; k < r; k++) {
                    b2[o * 2 * r + k] = b.data()[o * r + k];
                    b2[o * 2 * r + r + k] = -init.b()[o * r + k];
                }
            }
            out.put(key + "lora_A.weight", Tensor.of(a2, 2 * r, in));
            out.put(key + "lora_B.weight", Tensor.of(b2, outDim, 2 * r));
        }
        return out;
    }

    /** The config of {@link #pissaConvertedStateDict}: rank 2r, the same scaling, initialised as plain LoRA. */
    static LoraConfig pissaConvertedConfig(LoraConfig c) {
        float alpha = c.useRslora() ? (float) (c.loraAlpha() * Math.sqrt(2)) : 2 * c.loraAlpha();
        return new LoraConfig(2 * c.r(), alpha, c.loraDropout(), c.targetModules(), c.bias(), c.useRslora(),
            c.modulesToSave(), LoraConfig.Init.KAIMING, c.useDora(), c.freezeA());
    }

    /**
     * The variables behind {@link #adapterStateDict}, under the same keys: what a loader must fill (one place
     * decides which parameters belong to an adapter, so saving and loading cannot drift apart).
     */
    Map<String, Variable> adapterVariables(String name) {
        LoraConfig config = requireConfig(name);
        Map<String, Variable> out = new LinkedHashMap<>();
        for (var e : loraLayersByPath().entrySet()) {
            LoraLayer layer = e.getValue();
            if (!layer.adapterNames().contains(name)) continue;
            layer.adapterParameters(name).forEach((k, v) -> out.put(KEY_PREFIX + e.getKey() + "." + k, v));
        }
        for (var e : root.namedParameters().entrySet()) {
            String path = e.getKey();
            boolean bias = path.endsWith("bias") && switch (config.bias()) {
                case ALL -> true;
                case LORA_ONLY -> path.contains(".base_layer.");
                case NONE -> false;
            };
            if (bias || inModulesToSave(path, config)) out.put(KEY_PREFIX + path.replace(".base_layer.", "."), e.getValue());
        }
        return out;
    }
}
