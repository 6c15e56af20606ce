package dev.lora4j.nn;

/**
 * A module whose forward draws random numbers (dropout masks), with a state that can be read and put back, so
 * that a gradient-checkpointed block recomputes exactly the forward it ran the first time.
 */
public interface Stochastic {
    /** The state that decides the next forward's random draws. */
    long randomState();

    /** Puts back a state read by {@link #randomState()}. */
    void restoreRandomState(long state);
}
