package dev.lora4j.peft;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig.Bias;
import dev.lora4j.peft.LoraConfig.Init;
import dev.lora4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Loads an adapter saved by Peft's save_pretrained (or by {@link PeftAdapterWriter}): {@code adapter_config.json}
 * becomes a {@link LoraConfig}, and {@code adapter_model.safetensors} fills the adapter's weights. Loading is
 * strict, like {@code load_state_dict(strict=True)}: every key must land on a parameter of the same shape and
 * every adapter parameter must be filled, since a half-loaded adapter silently computes something else.
 */
public final class PeftAdapterReader {
    /** Older Peft checkpoints (and raw state_dicts) keep the adapter name: {@code lora_A.default.weight}. */
    private static final Pattern NAMED_LINEAR = Pattern.compile("\\.(lora_A|lora_B)\\.[^.]+\\.weight$");
    private static final Pattern NAMED_EMBEDDING = Pattern.compile("\\.(lora_embedding_A|lora_embedding_B)\\.[^.]+$");
    /** A raw state_dict's modules_to_save copy: {@code lm_head.modules_to_save.default.weight}. */
    private static final Pattern NAMED_SAVED = Pattern.compile("\\.modules_to_save\\.[^.]+\\.");

    private PeftAdapterReader() {}

    /**
     * Parses adapter_config.json as Peft writes it. Fields lora4j cannot honour (unconverted
     * PiSSA-style inits, layer selection) are errors rather than ignored, because ignoring them would load a
     * different model than the one trained; fields that do not change the computation are ignored.
     *
     * @throws IOException              if the file is missing, unreadable or not JSON (the message names file and line)
     * @throws IllegalArgumentException if the config is not a LoRA config lora4j supports
     */
    public static LoraConfig readConfig(Path adapterDir) throws IOException {
        JsonNode o = readJson(adapterDir);
        Path file = adapterDir.resolve(PeftAdapterWriter.CONFIG_FILE);
        if ("ADALORA".equals(o.path("peft_type").asText(null))) {
            throw new IllegalArgumentException(file + ": an AdaLoRA adapter; read it with readAdaLoraConfig");
        }
        if ("GLORA".equals(o.path("peft_type").asText(null))) {
            throw new IllegalArgumentException(file + ": a GLoRA adapter; load it alone with load() (serving and adapter arithmetic take LoRA adapters)");
        }
        return parse(o, file, "LORA");
    }

    private static JsonNode readJson(Path adapterDir) throws IOException {
        Path file = adapterDir.resolve(PeftAdapterWriter.CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no " + PeftAdapterWriter.CONFIG_FILE
                + " in " + adapterDir + " (is this a Peft adapter directory?)");
        }
        try {
            JsonNode o = new ObjectMapper().readTree(file.toFile());
            if (o == null || !o.isObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
            return o;
        } catch (JsonProcessingException e) {
            var loc = e.getLocation();
            throw new IOException(file + ": not valid JSON at line " + (loc == null ? "?" : loc.getLineNr())
                + ", column " + (loc == null ? "?" : loc.getColumnNr()) + ": " + e.getOriginalMessage(), e);
        }
    }

    /** True when the adapter in {@code adapterDir} is an AdaLoRA one (peft_type ADALORA). */
    public static boolean isAdaLora(Path adapterDir) throws IOException {
        return "ADALORA".equals(readJson(adapterDir).path("peft_type").asText(null));
    }

    /** A GLoRA adapter_config.json (lora4j's peft_type GLORA, LoRA's fields otherwise; r is the rank of A and B). */
    public static LoraConfig readGloraConfig(Path adapterDir) throws IOException {
        return parse(readJson(adapterDir), adapterDir.resolve(PeftAdapterWriter.CONFIG_FILE), "GLORA");
    }

    /** True when the adapter in {@code adapterDir} is a GLoRA one (lora4j's peft_type GLORA, see {@link GloraLinear}). */
    public static boolean isGlora(Path adapterDir) throws IOException {
        return "GLORA".equals(readJson(adapterDir).path("peft_type").asText(null));
    }

    /** An AdaLoRA adapter_config.json: its settings and its last allocation (null when it never pruned). */
    public record AdaLoraAdapter(AdaLoraConfig config, Map<String, boolean[]> rankPattern) {}

    /**
     * Parses an AdaLoRA adapter_config.json as Peft writes it: the LoRA fields, init_r, target_r, tinit, tfinal,
     * deltaT, beta1, beta2, orth_reg_weight, total_step and rank_pattern {@code {"<module>.lora_E": [bool...]}}.
     */
    public static AdaLoraAdapter readAdaLoraConfig(Path adapterDir) throws IOException {
        JsonNode o = readJson(adapterDir);
        Path file = adapterDir.resolve(PeftAdapterWriter.CONFIG_FILE);
        if (!"ADALORA".equals(o.path("peft_type").asText(null))) throw new IllegalArgumentException(file + ": peft_type is not ADALORA");
        LoraConfig lora = parse(o, file, "ADALORA");
        // Peft's AdaLoraConfig defaults for missing fields.
        AdaLoraConfig c = new AdaLoraConfig(lora, o.path("target_r").asInt(8), o.path("init_r").asInt(12), o.path("tinit").asInt(0),
            o.path("tfinal").asInt(0), o.path("deltaT").asInt(1), o.path("beta1").asDouble(0.85), o.path("beta2").asDouble(0.85),
            o.path("orth_reg_weight").asDouble(0.5), o.path("total_step").asLong(0));
        Map<String, boolean[]> pattern = null;
        JsonNode rp = o.get("rank_pattern");
        if (rp != null && !rp.isNull()) {
            if (!rp.isObject()) throw new IllegalArgumentException(file + ": rank_pattern must be an object of module -> [bool...], got " + rp);
            pattern = new LinkedHashMap<>();
            for (var e : rp.properties()) {
                JsonNode v = e.getValue();
                if (!v.isArray()) throw new IllegalArgumentException(file + ": rank_pattern['" + e.getKey() + "'] must be a list of booleans, got " + v);
                boolean[] keep = new boolean[v.size()];
                for (int i = 0; i < keep.length; i++) {
                    if (!v.get(i).isBoolean()) throw new IllegalArgumentException(file + ": rank_pattern['" + e.getKey() + "'] must hold booleans, got " + v.get(i));
                    keep[i] = v.get(i).asBoolean();
                }
                // Peft's key is "<module>.lora_E" (older files keep the adapter name after it).
                String module = e.getKey().replaceAll("\\.lora_E(\\.[^.]+)?$", "");
                pattern.put(module, keep);
            }
        }
        return new AdaLoraAdapter(c, pattern);
    }

    private static LoraConfig parse(JsonNode o, Path file, String expectedType) {
        boolean adaLora = expectedType.equals("ADALORA");
        String type = text(o, "peft_type", file, null);
        if (!expectedType.equals(type)) {
            throw new IllegalArgumentException(file + ": peft_type is " + (type == null ? "missing" : "'" + type + "'")
                + "; lora4j supports LORA, ADALORA and GLORA adapters");
        }
        // These select a subset of the matched layers or duplicate layers; ignoring them would wrap the wrong set.
        for (String f : List.of("layers_to_transform", "layer_replication")) {
            JsonNode p = o.get(f);
            if (p != null && !p.isNull()) throw new IllegalArgumentException(file + ": " + f + " " + p + " not supported yet");
        }

        // Missing fields take Peft's LoraConfig defaults.
        int r = o.has("r") ? intField(o, "r", file) : 8;
        float alpha = o.has("lora_alpha") ? number(o, "lora_alpha", file) : 8f;
        float dropout = o.has("lora_dropout") && !o.get("lora_dropout").isNull() ? number(o, "lora_dropout", file) : 0f;

        JsonNode t = o.get("target_modules");
        TargetModules targets;
        if (t == null || t.isNull()) {
            // Peft then picks per-architecture defaults, which lora4j does not know.
            throw new IllegalArgumentException(file + ": target_modules is missing; lora4j needs it given explicitly");
        } else if (t.isArray()) {
            List<String> names = new ArrayList<>();
            t.forEach(n -> names.add(n.asText()));
            targets = new TargetModules.Names(names);
        } else if (t.isTextual()) {
            targets = t.asText().equals("all-linear") ? new TargetModules.AllLinear() : new TargetModules.Regex(t.asText());
        } else {
            throw new IllegalArgumentException(file + ": target_modules must be a list or a string, got " + t);
        }

        String b = text(o, "bias", file, "none");
        Bias bias = switch (b) {
            case "none" -> Bias.NONE;
            case "all" -> Bias.ALL;
            case "lora_only" -> Bias.LORA_ONLY;
            default -> throw new IllegalArgumentException(file + ": bias '" + b + "' unknown; expected none, all or lora_only");
        };

        boolean rslora = o.path("use_rslora").asBoolean(false);
        boolean dora = o.path("use_dora").asBoolean(false);

        List<String> save = new ArrayList<>();
        JsonNode m = o.get("modules_to_save");
        if (m != null && !m.isNull()) {
            if (!m.isArray()) throw new IllegalArgumentException(file + ": modules_to_save must be a list or null, got " + m);
            m.forEach(n -> save.add(n.asText()));
        }

        JsonNode i = o.get("init_lora_weights");
        Init init;
        if (i == null || i.isNull() || (i.isBoolean() && i.asBoolean())) init = Init.KAIMING;
        else if (i.isBoolean()) init = Init.RANDOM;
        else if (i.isTextual() && i.asText().equals("gaussian")) init = Init.GAUSSIAN;
        else if (i.isTextual() && i.asText().startsWith("pissa")) {
            // Such an adapter only fits the residual base it was trained on, which is not what base_model_name_or_path names.
            throw new IllegalArgumentException(file + ": init_lora_weights " + i + " is an unconverted PiSSA adapter, which needs "
                + "its residual base model; save it converted (Peft: path_initial_model_for_weight_conversion; lora4j always does)");
        } else {
            // OLoRA, LoftQ, EVA ... also rewrite the base weights, so loading A and B alone would be wrong.
            throw new IllegalArgumentException(file + ": init_lora_weights " + i
                + " not supported yet (supported: true, false, \"gaussian\")");
        }
        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        // AdaLoRA's rank_pattern is its allocation (lists of booleans), read by readAdaLoraConfig.
        if (!adaLora) pattern(o, "rank_pattern", file).forEach((k, v) -> {
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() <= 0) {
                throw new IllegalArgumentException(file + ": rank_pattern['" + k + "'] must be a positive integer, got " + v);
            }
            rankPattern.put(k, v.asInt());
        });
        Map<String, Float> alphaPattern = new LinkedHashMap<>();
        pattern(o, "alpha_pattern", file).forEach((k, v) -> {
            if (!v.isNumber()) throw new IllegalArgumentException(file + ": alpha_pattern['" + k + "'] must be a number, got " + v);
            alphaPattern.put(k, v.floatValue());
        });
        try {
            return new LoraConfig(r, alpha, dropout, targets, bias, rslora, save, init, dora, false, rankPattern, alphaPattern);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw new IllegalArgumentException(file + ": a rank_pattern/alpha_pattern key is not a valid regex: " + e.getMessage(), e);
        }
    }

    /** Peft's rank_pattern / alpha_pattern: an object of regex -> value, in file order (first match wins). */
    private static Map<String, JsonNode> pattern(JsonNode o, String field, Path file) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        JsonNode p = o.get(field);
        if (p == null || p.isNull()) return out;
        if (!p.isObject()) throw new IllegalArgumentException(file + ": " + field + " must be an object of pattern -> value, got " + p);
        p.properties().forEach(e -> out.put(e.getKey(), e.getValue()));
        return out;
    }

    private static String text(JsonNode o, String field, Path file, String dflt) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) return dflt;
        if (!n.isTextual()) throw new IllegalArgumentException(file + ": " + field + " must be a string, got " + n);
        return n.asText();
    }

    private static int intField(JsonNode o, String field, Path file) {
        JsonNode n = o.get(field);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(file + ": " + field + " must be an integer, got " + n);
        }
        return n.asInt();
    }

    private static float number(JsonNode o, String field, Path file) {
        JsonNode n = o.get(field);
        if (!n.isNumber()) throw new IllegalArgumentException(file + ": " + field + " must be a number, got " + n);
        return n.floatValue();
    }

    /**
     * Injects the adapter in {@code adapterDir} into {@code model} (which must not have LoRA yet) under
     * {@code adapterName}, loads its weights and makes it active. On error the model's layers are put back as
     * they were.
     *
     * @param seed only seeds the initial values, which loading then overwrites
     */
    public static LoraModel load(Module model, Path adapterDir, String adapterName, long seed) throws IOException {
        for (var e : model.namedModules().entrySet()) {
            if (e.getValue() instanceof LoraLayer) {
                throw new IllegalArgumentException("module '" + e.getKey() + "' already has LoRA; use loadInto(loraModel, ...)");
            }
        }
        // inject freezes the base; remember trainability so that a failed load leaves the model as it was.
        Map<Variable, Boolean> trainable = new IdentityHashMap<>();
        model.namedParameters().values().forEach(v -> trainable.put(v, v.requiresGrad()));
        boolean ada = isAdaLora(adapterDir);
        AdaLoraAdapter adaConfig = ada ? readAdaLoraConfig(adapterDir) : null;
        LoraModel lora = ada ? LoraModel.injectAdaLora(model, adapterName, adaConfig.config().lora(), seed)
            : isGlora(adapterDir) ? LoraModel.injectGlora(model, adapterName, readGloraConfig(adapterDir), seed)
            : LoraModel.inject(model, adapterName, readConfig(adapterDir), seed);
        try {
            if (ada && adaConfig.rankPattern() != null) resizeToPattern(lora, adapterName, adaConfig.rankPattern(), adapterDir);
            fill(lora, adapterDir, adapterName);
        } catch (IOException | RuntimeException e) {
            lora.unload();
            trainable.forEach(Variable::setRequiresGrad);
            throw e;
        }
        lora.setActiveAdapter(adapterName);
        return lora;
    }

    /** Peft's resize_modules_by_rank_pattern: each layer keeps as many triplets as its allocation kept. */
    private static void resizeToPattern(LoraModel lora, String adapterName, Map<String, boolean[]> pattern, Path dir) {
        for (var e : pattern.entrySet()) {
            Module m;
            try {
                m = lora.model().get(e.getKey());
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(dir.resolve(PeftAdapterWriter.CONFIG_FILE) + ": rank_pattern names module '" + e.getKey()
                    + "', which the model does not have", ex);
            }
            if (!(m instanceof AdaLoraLinear l)) {
                throw new IllegalArgumentException(dir.resolve(PeftAdapterWriter.CONFIG_FILE) + ": rank_pattern names '" + e.getKey()
                    + "', which target_modules did not select");
            }
            l.resize(adapterName, e.getValue());
        }
    }

    /** Adds the adapter in {@code adapterDir} to an existing LoRA model, loads its weights and makes it active. */
    public static void loadInto(LoraModel lora, Path adapterDir, String adapterName) throws IOException {
        LoraConfig config = readConfig(adapterDir);
        lora.addAdapter(adapterName, config);
        try {
            fill(lora, adapterDir, adapterName);
        } catch (IOException | RuntimeException e) {
            lora.deleteAdapter(adapterName);
            throw e;
        }
        lora.setActiveAdapter(adapterName);
    }

    /**
     * Copies the checkpoint into the adapter's variables. Everything is checked before anything is copied, so
     * an error leaves the variables untouched; all mismatches are reported together, as PyTorch's
     * load_state_dict does, so one run shows every problem.
     */
    private static void fill(LoraModel lora, Path adapterDir, String adapterName) throws IOException {
        Path file = adapterDir.resolve(PeftAdapterWriter.WEIGHTS_FILE);
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no " + PeftAdapterWriter.WEIGHTS_FILE + " in " + adapterDir);
        }
        Map<String, Variable> expected = lora.adapterVariables(adapterName);
        Map<String, Variable> missing = new LinkedHashMap<>(expected);
        List<String> unexpected = new ArrayList<>(), sizeErrors = new ArrayList<>();
        Map<Variable, Tensor> toCopy = new IdentityHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String key : f.names()) {
                // Older Peft versions saved AdaLoRA's ranknum; it is always init_r, which the config gives.
                if (key.endsWith(".ranknum") || key.matches(".*\\.ranknum\\.[^.]+$")) continue;
                String k = canonical(key);
                Variable v = expected.get(k);
                if (v == null) {
                    unexpected.add(key);
                    continue;
                }
                missing.remove(k);
                long[] found = f.info(key).shape();
                int[] want = v.shape().dims();
                if (!sameShape(want, found)) {
                    sizeErrors.add("size mismatch for " + key + ": copying a param with shape " + Arrays.toString(found)
                        + " from checkpoint, the shape in current model is " + Arrays.toString(want));
                    continue;
                }
                toCopy.put(v, f.tensor(key));
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !sizeErrors.isEmpty()) {
            StringBuilder sb = new StringBuilder("Error(s) in loading adapter '" + adapterName + "' from " + file + ":");
            if (!missing.isEmpty()) sb.append("\n\tMissing key(s): ").append(String.join(", ", missing.keySet()));
            if (!unexpected.isEmpty()) {
                sb.append("\n\tUnexpected key(s): ").append(String.join(", ", unexpected))
                    .append(" (adapter_config.json's target_modules/modules_to_save/bias select: ")
                    .append(String.join(", ", expected.keySet())).append(')');
            }
            sizeErrors.forEach(s -> sb.append("\n\t").append(s));
            throw new IllegalArgumentException(sb.toString());
        }
        toCopy.forEach((v, t) -> System.arraycopy(t.data(), 0, v.data(), 0, v.data().length));
    }

    /** The key in the form the writer uses: adapter names removed from older Peft key forms. */
    static String canonical(String key) {
        String k = NAMED_LINEAR.matcher(key).replaceFirst(".$1.weight");
        k = NAMED_EMBEDDING.matcher(k).replaceFirst(".$1");
        return NAMED_SAVED.matcher(k).replaceFirst(".");
    }

    private static boolean sameShape(int[] want, long[] found) {
        if (want.length != found.length) return false;
        for (int i = 0; i < want.length; i++) if (want[i] != found[i]) return false;
        return true;
    }
}
