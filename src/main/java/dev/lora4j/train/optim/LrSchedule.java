package dev.lora4j.train.optim;

import java.util.List;
import java.util.Locale;

/**
 * A learning-rate schedule: the multiplier of the base rate at optimizer step {@code step} (0-based), with the
 * formulas of Hugging Face transformers' {@code get_*_schedule_with_warmup}, so the same run in Python sees the
 * same rates. Every schedule warms up linearly from 0: {@code step / max(1, warmup)} while {@code step < warmup}.
 */
public sealed interface LrSchedule {

    /** The names {@link #parse} accepts. */
    List<String> NAMES = List.of("constant", "linear", "cosine");

    /** Multiplier of the base learning rate at 0-based optimizer step {@code step}. */
    double factor(long step);

    /** {@code get_constant_schedule_with_warmup}: warm up, then 1. */
    static LrSchedule constant(int warmupSteps) {
        return new Constant(warmupSteps);
    }

    /** {@code get_linear_schedule_with_warmup}: warm up, then decay linearly to 0 at {@code totalSteps}. */
    static LrSchedule linear(int warmupSteps, long totalSteps) {
        return new Linear(warmupSteps, totalSteps);
    }

    /**
     * {@code get_cosine_schedule_with_warmup} (half a cosine period) or, with {@code minFactor > 0},
     * {@code get_cosine_with_min_lr_schedule_with_warmup}: the cosine is rescaled onto [minFactor, 1], so it
     * still decays smoothly and ends exactly at minFactor rather than flattening abruptly at a floor.
     */
    static LrSchedule cosine(int warmupSteps, long totalSteps, double minFactor) {
        return new Cosine(warmupSteps, totalSteps, minFactor);
    }

    /** A schedule by its CLI name ({@link #NAMES}, case-insensitive); cosine decays to 0. */
    static LrSchedule parse(String name, int warmupSteps, long totalSteps) {
        String n = name == null ? "" : name.strip().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "constant" -> constant(warmupSteps);
            case "linear" -> linear(warmupSteps, totalSteps);
            case "cosine" -> cosine(warmupSteps, totalSteps, 0.0);
            default -> throw new IllegalArgumentException("unknown learning-rate schedule '" + name + "', valid: " + String.join(", ", NAMES));
        };
    }

    /**
     * Warmup in steps from a user's value: a whole number {@code >= 1} is a step count, a value in [0, 1) a fraction
     * of {@code totalSteps}, rounded up as transformers' {@code warmup_ratio} is.
     */
    static int warmupSteps(double warmup, long totalSteps) {
        if (!(warmup >= 0) || Double.isInfinite(warmup)) throw new IllegalArgumentException("warmup must be finite and >= 0, got " + warmup);
        if (totalSteps < 0) throw new IllegalArgumentException("total steps must be >= 0, got " + totalSteps);
        double steps;
        if (warmup < 1) {
            steps = Math.ceil(warmup * totalSteps);
        } else {
            if (warmup != Math.rint(warmup)) {
                throw new IllegalArgumentException("warmup " + warmup + " is neither a fraction below 1 nor a whole number of steps");
            }
            steps = warmup;
        }
        if (steps > Integer.MAX_VALUE) throw new IllegalArgumentException("warmup of " + steps + " steps is too large");
        return (int) steps;
    }

    private static double warmupFactor(long step, int warmupSteps) {
        return (double) step / Math.max(1, warmupSteps);
    }

    private static void check(long step) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
    }

    private static void checkArgs(int warmupSteps, long totalSteps) {
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        if (totalSteps < 0) throw new IllegalArgumentException("total steps must be >= 0, got " + totalSteps);
    }

    /** See {@link #constant}. */
    record Constant(int warmupSteps) implements LrSchedule {
        public Constant {
            checkArgs(warmupSteps, 0);
        }

        @Override
        public double factor(long step) {
            check(step);
            return step < warmupSteps ? warmupFactor(step, warmupSteps) : 1.0;
        }
    }

    /** See {@link #linear}. */
    record Linear(int warmupSteps, long totalSteps) implements LrSchedule {
        public Linear {
            checkArgs(warmupSteps, totalSteps);
        }

        @Override
        public double factor(long step) {
            check(step);
            if (step < warmupSteps) return warmupFactor(step, warmupSteps);
            return Math.max(0.0, (double) (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
        }
    }

    /** See {@link #cosine}. */
    record Cosine(int warmupSteps, long totalSteps, double minFactor) implements LrSchedule {
        public Cosine {
            checkArgs(warmupSteps, totalSteps);
            if (!(minFactor >= 0 && minFactor <= 1)) throw new IllegalArgumentException("minFactor must be in [0, 1], got " + minFactor);
        }

        @Override
        public double factor(long step) {
            check(step);
            if (step < warmupSteps) return warmupFactor(step, warmupSteps);
            // transformers lets progress pass 1, where the cosine climbs again; a run that goes on past its planned
            // end (resumed with more steps) should stay at the bottom instead.
            double progress = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
            double cos = 0.5 * (1.0 + Math.cos(Math.PI * progress));
            return Math.max(0.0, cos * (1.0 - minFactor) + minFactor);
        }
    }
}
