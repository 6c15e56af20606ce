package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;

import java.util.List;
import java.util.Map;

/**
 * Updates parameters from their gradients, as {@code torch.optim} does. Parameters that are frozen or got no
 * gradient since the last {@link #zeroGrad()}/clear are skipped, so a frozen base model costs nothing here.
 *
 * <p>{@link #state()} and {@link #loadState} carry everything a resumed run needs besides {@link #stepCount()}:
 * float arrays keyed {@code <name>.<i>}, where i is the parameter's index in {@link #parameters()}.
 */
public sealed interface Optimizer permits AdamW, Sgd {

    /** Applies one update to every trainable parameter that holds a gradient. */
    void step();

    /** Zeroes every parameter's gradient buffer (buffers stay allocated for the next backward). */
    default void zeroGrad() {
        for (Variable p : parameters()) p.zeroGrad();
    }

    /** The base learning rate; each group applies its own multiplier to it. */
    double learningRate();

    /** Sets the base learning rate, typically {@code base * schedule.factor(step)} before each step. */
    void setLearningRate(double lr);

    /** The parameters in index order (the order state keys refer to). */
    List<Variable> parameters();

    /** Number of {@link #step()} calls so far (or as set by {@link #setStepCount}). */
    long stepCount();

    void setStepCount(long steps);

    /** A copy of the per-parameter state; parameters that never stepped have no entries. */
    Map<String, float[]> state();

    /**
     * Replaces the state with a copy of {@code state} (as written by {@link #state()} of an optimizer over the same
     * parameter shapes and order). Validates every entry before changing anything.
     *
     * @throws IllegalArgumentException on an unknown key, an index out of range, or a length that does not match
     */
    void loadState(Map<String, float[]> state);
}
