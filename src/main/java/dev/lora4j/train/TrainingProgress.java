package dev.lora4j.train;

import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Shows how a run goes: a progress bar (step/total, loss, lr, tokens/s, ETA) on a terminal; plain log lines about
 * every tenth of the run and at least every 30 seconds when output goes to a file or a pipe, where a redrawn bar
 * would be noise.
 */
sealed interface TrainingProgress extends AutoCloseable {

    /** After optimizer step {@code step} of the run. */
    void update(long step, double loss, double lr, double tokensPerSecond);

    @Override
    void close();

    static TrainingProgress create(boolean show, long firstStep, long totalSteps) {
        if (!show) return new Silent();
        boolean terminal = System.console() != null && System.console().isTerminal();
        return terminal ? new Bar(firstStep, totalSteps) : new Lines(firstStep, totalSteps);
    }

    /** Nothing shown (--json runs, tests). */
    record Silent() implements TrainingProgress {
        @Override
        public void update(long step, double loss, double lr, double tokensPerSecond) {}

        @Override
        public void close() {}
    }

    /** The redrawn bar. */
    final class Bar implements TrainingProgress {
        private final ProgressBar bar;

        Bar(long firstStep, long total) {
            bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                .setUnit(" steps", 1).showSpeed().setMaxRenderedLength(110).continuousUpdate().build();
            bar.stepTo(firstStep);
        }

        @Override
        public void update(long step, double loss, double lr, double tokensPerSecond) {
            bar.stepTo(step);
            bar.setExtraMessage(String.format(Locale.ROOT, " loss %.4f  lr %.2e  %.0f tok/s", loss, lr, tokensPerSecond));
        }

        @Override
        public void close() {
            bar.close();
        }
    }

    /** Periodic lines: "step 30/300 (10%)  loss 1.2345  lr 1.00e-03  850 tok/s  ETA 0:04:12". */
    final class Lines implements TrainingProgress {
        private static final long MAX_SILENCE_NANOS = 30_000_000_000L;
        private final long firstStep, total, every, start = System.nanoTime();
        private long lastPrint = System.nanoTime();

        Lines(long firstStep, long total) {
            this.firstStep = firstStep;
            this.total = total;
            this.every = Math.max(1, total / 10);
        }

        @Override
        public void update(long step, double loss, double lr, double tokensPerSecond) {
            long now = System.nanoTime();
            if (step % every != 0 && step != total && now - lastPrint < MAX_SILENCE_NANOS) return;
            lastPrint = now;
            double perStep = (now - start) / 1e9 / Math.max(1, step - firstStep);
            long eta = Math.round(perStep * (total - step));
            System.out.printf(Locale.ROOT, "step %d/%d (%d%%)  loss %.4f  lr %.2e  %.0f tok/s  ETA %d:%02d:%02d%n", step, total,
                100 * step / Math.max(1, total), loss, lr, tokensPerSecond, eta / 3600, eta / 60 % 60, eta % 60);
        }

        @Override
        public void close() {}
    }
}
