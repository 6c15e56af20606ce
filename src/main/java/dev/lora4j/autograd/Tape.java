package dev.lora4j.autograd;

import java.util.ArrayList;
import java.util.List;

/**
 * The reverse-mode tape: ops append a backward step while recording; {@link #backward} seeds the loss
 * gradient and replays the steps newest first. One tape per thread. Inside {@link #noGrad()} nothing is
 * recorded and no op output requires a gradient (inference mode).
 */
public final class Tape {
    /** One op's backward: reads its output's gradient, adds into its inputs' gradients. */
    @FunctionalInterface
    public interface Step {
        void backward();
    }

    private static final ThreadLocal<Tape> CURRENT = ThreadLocal.withInitial(Tape::new);

    private final List<Step> steps = new ArrayList<>();
    private final List<Variable> intermediates = new ArrayList<>();
    private int noGradDepth;

    private Tape() {}

    public static Tape current() {
        return CURRENT.get();
    }

    public boolean recording() {
        return noGradDepth == 0;
    }

    /** Scope in which ops record nothing: {@code try (var s = Tape.noGrad()) { ... }}. */
    public static Scope noGrad() {
        Tape t = current();
        t.noGradDepth++;
        // Closing twice must not underflow the depth, or the thread would never record again.
        boolean[] closed = {false};
        return () -> {
            if (!closed[0]) {
                closed[0] = true;
                t.noGradDepth--;
            }
        };
    }

    /** A scope that closes without checked exceptions. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Records a step producing {@code output}; the output's gradient is freed after backward. */
    public void record(Variable output, Step step) {
        steps.add(step);
        intermediates.add(output);
    }

    /** Number of recorded steps (for tests and diagnostics). */
    public int size() {
        return steps.size();
    }

    /**
     * Backpropagates from a scalar loss: d loss = {@code seed}, then every step newest first. Parameter
     * gradients accumulate (so calling this once per micro-batch accumulates); activation gradients and the
     * tape are released.
     */
    public void backward(Variable loss, float seed) {
        try {
            if (loss.size() != 1) throw new IllegalArgumentException("backward needs a scalar loss, got shape " + loss.shape());
            if (!loss.requiresGrad()) throw new IllegalStateException("loss does not depend on any trainable parameter");
            loss.gradForAccumulation()[0] += seed;
            for (int i = steps.size() - 1; i >= 0; i--) steps.get(i).backward();
        } finally {
            clear();
        }
    }

    public void backward(Variable loss) {
        backward(loss, 1f);
    }

    /** Forgets everything recorded (e.g. after an evaluation forward pass run with recording on). */
    public void clear() {
        for (Variable v : intermediates) v.clearGrad();
        steps.clear();
        intermediates.clear();
    }
}
