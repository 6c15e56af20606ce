package dev.lora4j.train;

import java.util.Locale;

/**
 * The knobs of a training run, with the meaning transformers' TrainingArguments gives them.
 *
 * @param epochs      passes over the training set
 * @param batchSize   examples per micro-batch
 * @param gradAccum   micro-batches per optimizer step
 * @param lr          peak learning rate
 * @param weightDecay decoupled weight decay (AdamW) or L2 decay (SGD)
 * @param warmup      warmup steps (>= 1) or fraction of all steps (< 1)
 * @param schedule    constant, linear or cosine
 * @param maxGradNorm global gradient-norm clip; 0 disables it
 * @param seed        shuffling and initialisation seed
 * @param maxSteps    stop after this many optimizer steps, the LR schedule laid out over them (0 = all epochs)
 * @param optimizer   adamw or sgd (plain SGD, no momentum)
 * @param evalEvery   evaluate every this many optimizer steps (0 = only before and after training)
 */
public record TrainingOptions(int epochs, int batchSize, int gradAccum, double lr, double weightDecay, double warmup,
                              String schedule, double maxGradNorm, long seed, long maxSteps, String optimizer, int evalEvery) {

    /** The optimizers a run can use. */
    public static final java.util.List<String> OPTIMIZERS = java.util.List.of("adamw", "sgd");

    /** Options that run every epoch ({@code maxSteps} 0) with AdamW and no evaluation between the ends. */
    public TrainingOptions(int epochs, int batchSize, int gradAccum, double lr, double weightDecay, double warmup,
                           String schedule, double maxGradNorm, long seed) {
        this(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, 0);
    }

    /** Options with AdamW and no evaluation between the ends. */
    public TrainingOptions(int epochs, int batchSize, int gradAccum, double lr, double weightDecay, double warmup,
                           String schedule, double maxGradNorm, long seed, long maxSteps) {
        this(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, maxSteps, "adamw", 0);
    }

    public TrainingOptions {
        if (epochs <= 0) throw new IllegalArgumentException("epochs must be positive, got " + epochs);
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        if (gradAccum <= 0) throw new IllegalArgumentException("grad-accum must be positive, got " + gradAccum);
        if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be positive, got " + lr);
        if (maxSteps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + maxSteps);
        if (evalEvery < 0) throw new IllegalArgumentException("eval-every must be >= 0, got " + evalEvery);
        optimizer = optimizer.toLowerCase(Locale.ROOT);
        if (!OPTIMIZERS.contains(optimizer)) throw new IllegalArgumentException("optimizer must be one of " + OPTIMIZERS + ", got '" + optimizer + "'");
    }

    public TrainingOptions withMaxSteps(long steps) {
        return new TrainingOptions(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, steps, optimizer, evalEvery);
    }

    public TrainingOptions withBatchSize(int size) {
        return new TrainingOptions(epochs, size, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, maxSteps, optimizer, evalEvery);
    }

    public TrainingOptions withOptimizer(String name) {
        return new TrainingOptions(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, maxSteps, name, evalEvery);
    }

    public TrainingOptions withEvalEvery(int steps) {
        return new TrainingOptions(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, maxSteps, optimizer, steps);
    }
}
