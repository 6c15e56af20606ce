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
 * @param initLoraWeights how A and B start; every mode but {@link Init#RANDOM} leaves B = 0 so training
 *                        starts exactly at the base model
 */
public record LoraConfig(int r, float loraAlpha, float loraDropout, TargetModules targetModules, Bias bias,
                         boolean useRslora, List<String> modulesToSave, Init initLoraWeights) {

    /** Peft's bias option. */
    public enum Bias { NONE, ALL, LORA_ONLY }

    /** Peft's init_lora_weights: true (Kaiming-uniform A), "gaussian" (A ~ N(0, 1/r)), false (B random too). */
    public enum Init { KAIMING, GAUSSIAN, RANDOM }

    public LoraConfig {
        if (r <= 0) throw new IllegalArgumentException("lora r must be positive, got " + r);
        if (!(loraDropout >= 0 && loraDropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
        if (targetModules == null) throw new IllegalArgumentException("target_modules must be given");
        modulesToSave = List.copyOf(modulesToSave);
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
        return new LoraConfig(r, loraAlpha, p, targetModules, bias, useRslora, modulesToSave, initLoraWeights);
    }

    public LoraConfig withBias(Bias b) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, b, useRslora, modulesToSave, initLoraWeights);
    }

    public LoraConfig withRslora(boolean on) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, on, modulesToSave, initLoraWeights);
    }

    public LoraConfig withModulesToSave(List<String> modules) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modules, initLoraWeights);
    }

    public LoraConfig withInit(Init init) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, bias, useRslora, modulesToSave, init);
    }
}
