package dev.lora4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a run produced, step by step: each optimizer step's loss and learning rate, the evaluations made along the
 * way (step 0 is the model before training), and the time, examples and tokens this run covered.
 */
public final class TrainingHistory {

    /** One optimizer step: its mean micro-batch loss, the learning rate it used, and tokens seen so far. */
    public record Step(long step, double loss, double lr, long tokens) {}

    /** The evaluation metrics after {@code step} optimizer steps (0 = before training), by name. */
    public record Eval(long step, Map<String, Double> metrics) {
        public double metric(String name) {
            Double v = metrics.get(name);
            if (v == null) throw new IllegalArgumentException("no metric '" + name + "' in evaluation at step " + step + ": " + metrics.keySet());
            return v;
        }
    }

    private final List<Step> steps = new ArrayList<>();
    private final List<Eval> evals = new ArrayList<>();
    private double seconds;
    private long examples;
    private long tokens;

    void add(Step step) {
        steps.add(step);
    }

    void add(Eval eval) {
        evals.add(eval);
    }

    void finish(double seconds, long examples, long tokens) {
        this.seconds = seconds;
        this.examples = examples;
        this.tokens = tokens;
    }

    /** The loss after each optimizer step, in order. */
    public List<Double> losses() {
        return steps.stream().map(Step::loss).toList();
    }

    public List<Step> steps() {
        return List.copyOf(steps);
    }

    public List<Eval> evals() {
        return List.copyOf(evals);
    }

    /** The evaluation before training (step 0), when the run had an evaluator. */
    public Optional<Eval> firstEval() {
        return evals.isEmpty() || evals.getFirst().step() != 0 ? Optional.empty() : Optional.of(evals.getFirst());
    }

    /** The evaluation at the end of training, when the run had an evaluator. */
    public Optional<Eval> lastEval() {
        return evals.isEmpty() ? Optional.empty() : Optional.of(evals.getLast());
    }

    /** Wall-clock seconds of this run's training loop, evaluations excluded (a resumed run counts only its own part). */
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
