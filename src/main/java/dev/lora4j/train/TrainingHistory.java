package dev.lora4j.train;

import java.util.ArrayList;
import java.util.List;

/** What a run produced, step by step: the loss after each optimizer step, and the time and examples seen. */
public final class TrainingHistory {
    private final List<Double> losses = new ArrayList<>();
    private double seconds;
    private long examples;
    private long tokens;

    void add(double loss) {
        losses.add(loss);
    }

    void finish(double seconds, long examples, long tokens) {
        this.seconds = seconds;
        this.examples = examples;
        this.tokens = tokens;
    }

    public List<Double> losses() {
        return List.copyOf(losses);
    }

    public double seconds() {
        return seconds;
    }

    public long examples() {
        return examples;
    }

    public long tokens() {
        return tokens;
    }
}
