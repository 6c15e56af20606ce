package dev.lora4j.train;

/**
 * The loss became NaN or infinite: training stops at once, before the bad step touches the weights, and the last
 * checkpoint written stays the last good one. Its message says where and what to do.
 */
public final class TrainingDivergedException extends IllegalStateException {
    private final long step;

    TrainingDivergedException(String message, long step) {
        super(message);
        this.step = step;
    }

    /** The optimizer step (1-based) whose loss was not finite. */
    public long step() {
        return step;
    }
}
