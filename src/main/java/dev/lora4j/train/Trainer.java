package dev.lora4j.train;

import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.train.optim.AdamW;
import dev.lora4j.train.optim.GradientClipping;
import dev.lora4j.train.optim.LrSchedule;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The training loop, plain and visible: shuffle, micro-batches, backward (gradients accumulate), clip,
 * AdamW step under the LR schedule, zero. A progress bar shows loss, tokens/s and ETA.
 */
public final class Trainer {

    /** Computes a micro-batch's loss (recording on the tape) and says how many tokens it covered. */
    public interface LossFunction<T> {
        Result loss(List<T> batch);

        record Result(Variable loss, long tokens) {}
    }

    private final TrainingOptions options;
    private final boolean showProgress;
    private Path checkpointDir;
    private int saveEvery;
    private boolean resume;

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

    public Trainer(TrainingOptions options, boolean showProgress) {
        this.options = options;
        this.showProgress = showProgress;
    }

    public <T> TrainingHistory fit(List<T> examples, List<Variable> trainable, LossFunction<T> lossFn) throws IOException {
        if (examples.isEmpty()) throw new IllegalArgumentException("no training examples");
        int microPerEpoch = (examples.size() + options.batchSize() - 1) / options.batchSize();
        long totalSteps = (long) options.epochs() * ((microPerEpoch + options.gradAccum() - 1) / options.gradAccum());
        if (options.maxSteps() > 0) totalSteps = Math.min(totalSteps, options.maxSteps());
        AdamW optimizer = new AdamW(trainable, options.lr(), options.weightDecay());
        LrSchedule schedule = LrSchedule.parse(options.schedule(), LrSchedule.warmupSteps(options.warmup(), totalSteps), totalSteps);
        TrainingHistory history = new TrainingHistory();
        Random shuffle = new Random(options.seed());
        long start = System.nanoTime(), seenExamples = 0, seenTokens = 0, step = 0;
        // Counts restored from a checkpoint carry on into the next checkpoint; the history's rate covers this run only.
        long restoredExamples = 0, restoredTokens = 0;
        if (resume && checkpointDir != null) {
            var restored = Checkpoint.restore(checkpointDir, trainable, optimizer);
            if (restored.isPresent()) {
                step = restored.get().step();
                restored.get().losses().forEach(history::add);
                seenExamples = restoredExamples = restored.get().examples();
                seenTokens = restoredTokens = restored.get().tokens();
            }
        }
        long stepsPerEpoch = (microPerEpoch + options.gradAccum() - 1) / options.gradAccum();
        long resumeStep = step;
        try (ProgressBar bar = progressBar(totalSteps)) {
            if (bar != null) bar.stepTo(step);
            for (int epoch = 0; epoch < options.epochs(); epoch++) {
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
                    // Activations and their gradients come from arrays the previous micro-batch gave back, so the
                    // steady state makes almost no garbage; nothing computed inside is read after the scope.
                    try (var reuse = Tape.current().reuseBuffers()) {
                        r = lossFn.loss(batch);
                        stepLoss += r.loss().data()[0];
                        // Each micro-batch's mean loss counts 1/gradAccum, so the step sees the mean over the step.
                        Tape.current().backward(r.loss(), 1f / options.gradAccum());
                    }
                    inStep++;
                    seenExamples += batch.size();
                    seenTokens += r.tokens();
                    if (inStep == options.gradAccum() || b == microPerEpoch - 1) {
                        optimizer.setLearningRate(options.lr() * schedule.factor(step));
                        if (options.maxGradNorm() > 0) GradientClipping.clipGlobalNorm(trainable, options.maxGradNorm());
                        optimizer.step();
                        optimizer.zeroGrad();
                        history.add(stepLoss / inStep);
                        step++;
                        if (checkpointDir != null && saveEvery > 0 && (step % saveEvery == 0 || step == totalSteps)) {
                            Checkpoint.save(checkpointDir, trainable, optimizer,
                                new Checkpoint.Progress(step, history.losses(), seenExamples, seenTokens));
                        }
                        if (bar != null) {
                            double secs = (System.nanoTime() - start) / 1e9;
                            bar.step();
                            bar.setExtraMessage(String.format(Locale.ROOT, " loss %.4f  %.0f tok/s", stepLoss / inStep, (seenTokens - restoredTokens) / secs));
                        }
                        stepLoss = 0;
                        inStep = 0;
                        if (step >= totalSteps) break;
                    }
                }
                if (step >= totalSteps) break;
            }
        }
        Tape.current().dropBuffers();
        history.finish((System.nanoTime() - start) / 1e9, seenExamples - restoredExamples, seenTokens - restoredTokens);
        return history;
    }

    private ProgressBar progressBar(long total) {
        if (!showProgress) return null;
        return new ProgressBarBuilder().setTaskName("train").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
            .setUnit(" steps", 1).showSpeed().setMaxRenderedLength(110).continuousUpdate().build();
    }
}
