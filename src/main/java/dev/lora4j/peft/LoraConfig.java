package dev.lora4j.peft;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The settings of one LoRA adapter, field for field Peft's LoraConfig (the names in adapter_config.json).
 *
 * @param r               rank of the update B·A
 * @param loraAlpha       scale numerator: the update is multiplied by alpha/r (alpha/√r with rsLoRA)
 * @param loraDropout     dropout on the LoRA branch's input during training
 * @param targetModules   which modules are wrapped
 * @param bias            which biases train: none, all, or those of wrapped layers
 * @param useRslora       rank-stabilised scaling alpha/√r (Kalajdzievski 2023)
 * @param modulesToSave   modules trained in full and saved with the adapter (classifier heads)
 * @param initLoraWeights how A and B start; every mode but {@link Init#RANDOM} leaves B = 0 so training
 *                        starts exactly at the base model
 * @param rankPattern     per-module ranks, Peft's rank_pattern: regex -> r, matched as {@link #patternFor} says;
 *                        modules no key matches get {@code r}
 * @param alphaPattern    per-module alphas, Peft's alpha_pattern, matched the same way
 */
public record LoraConfig(int r, float loraAlpha, float loraDropout, TargetModules targetModules, Bias bias,
                         boolean useRslora, List<String> modulesToSave, Init initLoraWeights,
                         Map<String, Integer> rankPattern, Map<String, Float> alphaPattern) {

    /** Peft's bias option. */
    public enum Bias { NONE, ALL, LORA_ONLY }

    /** Peft's init_lora_weights: true (Kaiming-uniform A), "gaussian" (A ~ N(0, 1/r)), false (B random too). */
    public enum Init { KAIMING, GAUSSIAN, RANDOM }

    public LoraConfig {
        if (r <= 0) throw new IllegalArgumentException("lora r must be positive, got " + r);
        if (!(loraDropout >= 0 && loraDropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
        if (targetModules == null) throw new IllegalArgumentException("target_modules must be given");
        modulesToSave = List.copyOf(modulesToSave);
        // Insertion order matters: the first key that matches a module wins, as in Peft.
        rankPattern = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rankPattern));
        alphaPattern = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(alphaPattern));
        rankPattern.forEach((k, v) -> {
            Pattern.compile(k);
            if (v <= 0) throw new IllegalArgumentException("rank_pattern '" + k + "': rank must be positive, got " + v);
        });
        alphaPattern.keySet().forEach(Pattern::compile);
    }

    /** Without per-module patterns. */
    public LoraConfig(int r, float loraAlpha, float loraDropout, TargetModules targetModules, Bias bias,
                      boolean useRslora, List<String> modulesToSave, Init initLoraWeights) {
        this(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, initLoraWeights, Map.of(), Map.of());
    }

    /** Peft's defaults for the rest: alpha 8, no dropout, no bias, Kaiming init. */
    public static LoraConfig of(int r, float alpha, TargetModules targets) {
        return new LoraConfig(r, alpha, 0f, targets, Bias.NONE, false, List.of(), Init.KAIMING);
    }

    /** Target by a command-line style spec: a comma list, a regex, or all-linear. */
    public static LoraConfig of(int r, float alpha, String targets) {
        return of(r, alpha, TargetModules.parse(targets));
    }

    /** The factor multiplying B·A: alpha/r, or alpha/√r with rsLoRA. */
    public float scaling() {
        return (float) (useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r);
    }

    public LoraConfig withDropout(float p) {
        return new LoraConfig(r, loraAlpha, p, targetModules, bias, useRslora, modulesToSave, initLoraWeights, rankPattern, alphaPattern);
    }

    public LoraConfig withBias(Bias b) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, b, useRslora, modulesToSave, initLoraWeights, rankPattern, alphaPattern);
    }

    public LoraConfig withRslora(boolean on) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, on, modulesToSave, initLoraWeights, rankPattern, alphaPattern);
    }

    public LoraConfig withModulesToSave(List<String> modules) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modules, initLoraWeights, rankPattern, alphaPattern);
    }

    public LoraConfig withInit(Init init) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, init, rankPattern, alphaPattern);
    }

    public LoraConfig withRank(int rank) {
        return new LoraConfig(rank, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, initLoraWeights, rankPattern, alphaPattern);
    }

    public LoraConfig withPatterns(Map<String, Integer> ranks, Map<String, Float> alphas) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, initLoraWeights, ranks, alphas);
    }

    /**
     * The first key of {@code patterns} that matches the module at {@code path}, or null. Peft's get_pattern_key:
     * the key is a regex that must match a whole dotted suffix of the path, {@code (.*\.)?(key)$}, so "q_proj"
     * matches "model.layers.0.self_attn.q_proj" and "layers.0.self_attn.q_proj" matches it too, but "proj" does not.
     */
    public static String patternFor(Iterable<String> patterns, String path) {
        for (String key : patterns) {
            if (Pattern.compile("(.*\\.)?(" + key + ")$").matcher(path).matches()) return key;
        }
        return null;
    }

    /** The rank of the module at {@code path}: its rank_pattern entry, else r. */
    public int rankFor(String path) {
        String k = patternFor(rankPattern.keySet(), path);
        return k == null ? r : rankPattern.get(k);
    }

    /** The alpha of the module at {@code path}: its alpha_pattern entry, else lora_alpha. */
    public float alphaFor(String path) {
        String k = patternFor(alphaPattern.keySet(), path);
        return k == null ? loraAlpha : alphaPattern.get(k);
    }

    /** The largest rank any module may get (Peft's max(r, *rank_pattern.values())). */
    public int maxRank() {
        return Math.max(r, rankPattern.values().stream().mapToInt(Integer::intValue).max().orElse(r));
    }

    /** This config as it applies to one module: its own rank and alpha, no patterns left. */
    public LoraConfig forModule(String path) {
        return new LoraConfig(rankFor(path), alphaFor(path), loraDropout, targetModules, bias, useRslora, modulesToSave,
            initLoraWeights);
    }
}
