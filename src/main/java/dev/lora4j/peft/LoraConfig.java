package dev.lora4j.peft;

import java.util.List;

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
 * @param initLoraWeights how A and B start; every mode but {@link Init#RANDOM} starts exactly at the base model
 *                        (PiSSA by moving the top-r singular part of W out of the base into B·A)
 * @param useDora         DoRA (Liu et al. 2024): a trained magnitude per output row times the direction of
 *                        W + scaling·B·A (Peft's use_dora)
 * @param freezeA         LoRA-FA (Zhang et al. 2023): A stays at its initialisation and only B trains. Not a Peft
 *                        field: the saved adapter is a plain LoRA adapter
 */
public record LoraConfig(int r, float loraAlpha, float loraDropout, TargetModules targetModules, Bias bias,
                         boolean useRslora, List<String> modulesToSave, Init initLoraWeights, boolean useDora,
                         boolean freezeA) {

    /** Peft's bias option. */
    public enum Bias { NONE, ALL, LORA_ONLY }

    /**
     * Peft's init_lora_weights: true (Kaiming-uniform A), "gaussian" (A ~ N(0, 1/r)), false (B random too),
     * "pissa" (A, B from the top-r singular triplets of W; the base keeps the residual).
     */
    public enum Init { KAIMING, GAUSSIAN, RANDOM, PISSA }

    /** A plain LoRA config (no DoRA, A trained). */
    public LoraConfig(int r, float loraAlpha, float loraDropout, TargetModules targetModules, Bias bias,
                      boolean useRslora, List<String> modulesToSave, Init initLoraWeights) {
        this(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, initLoraWeights, false, false);
    }

    public LoraConfig {
        if (r <= 0) throw new IllegalArgumentException("lora r must be positive, got " + r);
        if (!(loraDropout >= 0 && loraDropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
        if (targetModules == null) throw new IllegalArgumentException("target_modules must be given");
        modulesToSave = List.copyOf(modulesToSave);
        if (initLoraWeights == null) throw new IllegalArgumentException("init_lora_weights must be given");
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
        return new LoraConfig(r, loraAlpha, p, targetModules, bias, useRslora, modulesToSave, initLoraWeights, useDora, freezeA);
    }

    public LoraConfig withBias(Bias b) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, b, useRslora, modulesToSave, initLoraWeights, useDora, freezeA);
    }

    public LoraConfig withRslora(boolean on) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, on, modulesToSave, initLoraWeights, useDora, freezeA);
    }

    public LoraConfig withModulesToSave(List<String> modules) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modules, initLoraWeights, useDora, freezeA);
    }

    public LoraConfig withInit(Init init) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, init, useDora, freezeA);
    }

    public LoraConfig withDora(boolean on) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, initLoraWeights, on, freezeA);
    }

    /** LoRA-FA: A frozen at its initialisation. */
    public LoraConfig withFrozenA(boolean on) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, initLoraWeights, useDora, on);
    }
}
