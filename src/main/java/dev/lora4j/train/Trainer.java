package dev.lora4j.train;

import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.train.optim.AdamW;
import dev.lora4j.train.optim.GradientClipping;
import dev.lora4j.train.optim.LrSchedule;
import dev.lora4j.train.optim.ParamGroup;
import dev.lora4j.train.optim.Optimizer;
import dev.lora4j.train.optim.Sgd;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The training loop, plain and visible: shuffle, micro-batches, backward (gradients accumulate), clip,
 * optimizer step under the LR schedule, zero. A progress bar shows loss, tokens/s and ETA; an optional evaluator
 * runs before training, every {@code evalEvery} steps and at the end; metrics.jsonl and checkpoints are written
 * along the way. A NaN or infinite loss stops the run before it reaches the weights.
 */
public final class Trainer {

    /** Computes a micro-batch's loss (recording on the tape) and says how many tokens it covered. */
    public interface LossFunction<T> {
        Result loss(List<T> batch);

        record Result(Variable loss, long tokens) {}
    }

    /** Measures the model on held-out data; returns metrics by name (eval_loss, eval_accuracy, ...). */
    public interface Evaluator {
        Map<String, Double> evaluate() throws IOException;
    }

    private final TrainingOptions options;
    private final boolean showProgress;
    private Path checkpointDir;
    private int saveEvery;
    private boolean resume;
    private StepHook stepHook;

    /** Something that acts between optimizer steps: a rank schedule, AdaLoRA's budget allocation. */
    public interface StepHook {
        /** Before training, with the completed step count (the restored one after a resume). */
        default void start(long step) {}

        /**
         * After optimizer step number {@code completed} (1-based), before gradients are zeroed and before that
         * step's checkpoint. It may change parameter values, not which parameters there are.
         */
        void afterStep(long completed);
    }

    private Evaluator evaluator;
    private Path metricsFile;

    /** Runs {@code evaluator} before training, every {@link TrainingOptions#evalEvery()} steps and at the end. */
    public Trainer withEvaluator(Evaluator evaluator) {
        this.evaluator = evaluator;
        return this;
    }

    /** Writes every step and evaluation to this metrics.jsonl at each checkpoint and at the end ({@link MetricsLog}). */
    public Trainer withMetricsLog(Path file) {
        this.metricsFile = file;
        return this;
    }

    /**
     * Saves a checkpoint into {@code dir} every {@code saveEvery} optimizer steps; with {@code resume}, a run first
     * restores the latest checkpoint there and continues from its step, on the same shuffled order.
     */
    public Trainer withCheckpoints(Path dir, int saveEvery, boolean resume) {
        if (saveEvery < 0) throw new IllegalArgumentException("save-every must be >= 0, got " + saveEvery);
        this.checkpointDir = dir;
        this.saveEvery = saveEvery;
        this.resume = resume;
        return this;
    }

    /** Runs {@code hook} before training and after every optimizer step. */
    public Trainer withStepHook(StepHook hook) {
        this.stepHook = hook;
        return this;
    }

    /** Optimizer steps of a run over {@code examples} examples (what LR schedules and AdaLoRA lay out over). */
    public static long totalSteps(int examples, TrainingOptions options) {
        int microPerEpoch = (examples + options.batchSize() - 1) / options.batchSize();
        long total = (long) options.epochs() * ((microPerEpoch + options.gradAccum() - 1) / options.gradAccum());
        return options.maxSteps() > 0 ? Math.min(total, options.maxSteps()) : total;
    }

    public Trainer(TrainingOptions options, boolean showProgress) {
        this.options = options;
        this.showProgress = showProgress;
    }

    public <T> TrainingHistory fit(List<T> examples, List<Variable> trainable, LossFunction<T> lossFn) throws IOException {
        return fitGroups(examples, List.of(ParamGroup.of(trainable, options.weightDecay())), lossFn);
    }

    /**
     * Trains parameter groups that each scale the scheduled learning rate (LoRA+: B at ratio × A's rate) and have
     * their own weight decay. Checkpoints list the parameters in group order, so a resume needs the same groups.
     */
    public <T> TrainingHistory fitGroups(List<T> examples, List<ParamGroup> groups, LossFunction<T> lossFn) throws IOException {
        if (examples.isEmpty()) throw new IllegalArgumentException("no training examples");
        List<Variable> trainable = groups.stream().flatMap(g -> g.params().stream()).toList();
        int microPerEpoch = (examples.size() + options.batchSize() - 1) / options.batchSize();
        long totalSteps = totalSteps(examples.size(), options);
        Optimizer optimizer = switch (options.optimizer()) {
            case "sgd" -> new Sgd(groups, options.lr(), 0, false);
            default -> new AdamW(groups, options.lr());
        };
        LrSchedule schedule = LrSchedule.parse(options.schedule(), LrSchedule.warmupSteps(options.warmup(), totalSteps), totalSteps);
        TrainingHistory history = new TrainingHistory();
        Random shuffle = new Random(options.seed());
        evalNanos = 0;
        long start = System.nanoTime(), seenExamples = 0, seenTokens = 0, step = 0, lastCheckpoint = -1;
        // Counts restored from a checkpoint carry on into the next checkpoint; the history's rate covers this run only.
        long restoredExamples = 0, restoredTokens = 0;
        if (resume && checkpointDir != null) {
            var restored = Checkpoint.restore(checkpointDir, trainable, optimizer);
            if (restored.isPresent()) {
                step = lastCheckpoint = restored.get().step();
                restored.get().steps().forEach(history::add);
                restored.get().evals().forEach(history::add);
                seenExamples = restoredExamples = restored.get().examples();
                seenTokens = restoredTokens = restored.get().tokens();
            }
        }
        if (stepHook != null) stepHook.start(step);
        if (evaluator != null && step == 0) history.add(evaluate(0));
        long stepsPerEpoch = (microPerEpoch + options.gradAccum() - 1) / options.gradAccum();
        long resumeStep = step;
        try (TrainingProgress progress = TrainingProgress.create(showProgress, step, totalSteps)) {
            for (int epoch = 0; epoch < options.epochs() && step < totalSteps; epoch++) {
                List<T> order = new ArrayList<>(examples);
                // Every epoch's shuffle is drawn, also those a resumed run skips, so the order is the same.
                Collections.shuffle(order, shuffle);
                if ((epoch + 1) * stepsPerEpoch <= resumeStep) continue;
                int firstMicro = (int) Math.max(0, (resumeStep - epoch * stepsPerEpoch) * options.gradAccum());
                double stepLoss = 0;
                int inStep = 0;
                for (int b = firstMicro; b < microPerEpoch; b++) {
                    List<T> batch = order.subList(b * options.batchSize(), Math.min(order.size(), (b + 1) * options.batchSize()));
                    LossFunction.Result r;
                    float loss;
                    // Activations and their gradients come from arrays the previous micro-batch gave back, so the
                    // steady state makes almost no garbage; nothing computed inside is read after backward.
                    try (var reuse = Tape.current().reuseBuffers()) {
                        r = lossFn.loss(batch);
                        loss = r.loss().data()[0];
                        if (!Float.isFinite(loss)) throw diverged(loss, step + 1, epoch, b, lastCheckpoint);
                        // Each micro-batch's mean loss counts 1/gradAccum, so the step sees the mean over the step.
                        Tape.current().backward(r.loss(), 1f / options.gradAccum());
                    }
                    stepLoss += loss;
                    inStep++;
                    seenExamples += batch.size();
                    seenTokens += r.tokens();
                    if (inStep == options.gradAccum() || b == microPerEpoch - 1) {
                        double lr = options.lr() * schedule.factor(step);
                        optimizer.setLearningRate(lr);
                        if (options.maxGradNorm() > 0) GradientClipping.clipGlobalNorm(trainable, options.maxGradNorm());
                        optimizer.step();
                        if (stepHook != null) stepHook.afterStep(step + 1);
                        optimizer.zeroGrad();
                        step++;
                        history.add(new TrainingHistory.Step(step, stepLoss / inStep, lr, seenTokens));
                        boolean last = step == totalSteps;
                        if (evaluator != null && (last || options.evalEvery() > 0 && step % options.evalEvery() == 0)) {
                            history.add(evaluate(step));
                        }
                        if (checkpointDir != null && saveEvery > 0 && (step % saveEvery == 0 || last)) {
                            Checkpoint.save(checkpointDir, trainable, optimizer,
                                new Checkpoint.Progress(step, history.steps(), history.evals(), seenExamples, seenTokens));
                            lastCheckpoint = step;
                            if (metricsFile != null) MetricsLog.write(metricsFile, history);
                        }
                        double secs = (System.nanoTime() - start - evalNanos) / 1e9;
                        progress.update(step, stepLoss / inStep, lr, (seenTokens - restoredTokens) / secs);
                        stepLoss = 0;
                        inStep = 0;
                        if (step >= totalSteps) break;
                    }
                }
            }
        }
        Tape.current().dropBuffers();
        history.finish((System.nanoTime() - start - evalNanos) / 1e9, seenExamples - restoredExamples, seenTokens - restoredTokens);
        if (metricsFile != null) MetricsLog.write(metricsFile, history);
        return history;
    }

    /** Time spent evaluating, kept out of the training time and tokens/s. */
    private long evalNanos;

    private TrainingHistory.Eval evaluate(long step) throws IOException {
        long t0 = System.nanoTime();
        try {
            return new TrainingHistory.Eval(step, evaluator.evaluate());
        } finally {
            evalNanos += System.nanoTime() - t0;
        }
    }

    private TrainingDivergedException diverged(float loss, long step, int epoch, int micro, long lastCheckpoint) {
        String kept = checkpointDir == null || saveEvery == 0 ? "no checkpoint was being saved (--save-every 0)"
            : lastCheckpoint < 0 ? "no checkpoint had been saved yet"
            : "the last good checkpoint is step " + lastCheckpoint + " in " + checkpointDir + " (continue with --resume)";
        return new TrainingDivergedException(String.format(Locale.ROOT,
            "the loss became %s at step %d (epoch %d, micro-batch %d); training stopped before updating the weights; %s."
                + " A lower --lr, --max-grad-norm 1 or a longer --warmup usually helps", loss, step, epoch + 1, micro + 1, kept), step);
    }

}
