package dev.lora4j.train;

/**
 * The knobs of a training run, with the meaning transformers' TrainingArguments gives them.
 *
 * @param epochs      passes over the training set
 * @param batchSize   examples per micro-batch
 * @param gradAccum   micro-batches per optimizer step
 * @param lr          peak learning rate
 * @param weightDecay AdamW's decoupled weight decay
 * @param warmup      warmup steps (>= 1) or fraction of all steps (< 1)
 * @param schedule    constant, linear or cosine
 * @param maxGradNorm global gradient-norm clip; 0 disables it
 * @param seed        shuffling and initialisation seed
 * @param maxSteps    stop after this many optimizer steps, the LR schedule laid out over them (0 = all epochs)
 */
public record TrainingOptions(int epochs, int batchSize, int gradAccum, double lr, double weightDecay, double warmup,
                              String schedule, double maxGradNorm, long seed, long maxSteps) {

    /** Options that run every epoch ({@code maxSteps} 0). */
    public TrainingOptions(int epochs, int batchSize, int gradAccum, double lr, double weightDecay, double warmup,
                           String schedule, double maxGradNorm, long seed) {
        this(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, 0);
    }

    public TrainingOptions withMaxSteps(long steps) {
        return new TrainingOptions(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, steps);
    }
    public TrainingOptions {
        if (epochs <= 0) throw new IllegalArgumentException("epochs must be positive, got " + epochs);
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        if (gradAccum <= 0) throw new IllegalArgumentException("grad-accum must be positive, got " + gradAccum);
        if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be positive, got " + lr);
        if (maxSteps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + maxSteps);
    }
}
