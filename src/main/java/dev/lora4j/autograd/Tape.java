package dev.lora4j.autograd;

import dev.lora4j.kernel.VectorMath;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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

    // Not final: a gradient-checkpointed segment sets the recording aside and records into fresh lists (see Segment).
    private List<Step> steps = new ArrayList<>();
    private List<Variable> intermediates = new ArrayList<>();
    private int noGradDepth;
    /** The pooled arrays handed out inside the innermost open {@link Segment}, or null outside any. */
    private List<float[]> segmentArrays;

    /** Arrays smaller than this are not worth pooling: the allocator hands them out as cheaply. */
    private static final int POOL_MIN = 4096;
    private final Map<Integer, ArrayDeque<float[]>> free = new HashMap<>();
    private final java.util.Set<float[]> lent = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    private int reuseDepth;

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

    /**
     * Scope in which op outputs and activation gradients come from a pool of arrays that the previous scope gave
     * back, instead of new allocations: a training step makes (almost) no garbage, so the collector has nothing
     * to copy or reclaim and the heap stays at one step's peak. During {@link #backward} each recorded output's
     * arrays return to the pool as soon as its step has run (its gradient is then complete and used), so that
     * the gradients of earlier layers reuse the activations of later ones; when the outermost scope closes,
     * everything else handed out inside it returns too. So <b>no value recorded inside may be read after
     * backward</b> (read the loss before): {@code try (var s = Tape.current().reuseBuffers()) { forward, read
     * the loss, backward }}. Parameter gradients are never pooled. {@link #dropBuffers()} lets the pool go.
     */
    public Scope reuseBuffers() {
        reuseDepth++;
        boolean[] closed = {false};
        return () -> {
            if (closed[0]) return;
            closed[0] = true;
            if (--reuseDepth == 0) {
                for (float[] a : lent) free.computeIfAbsent(a.length, n -> new ArrayDeque<>()).push(a);
                lent.clear();
            }
        };
    }

    private void giveBack(Variable v) {
        if (!v.pooled()) return;
        float[] g = v.grad();
        if (g != null && lent.remove(g)) {
            v.clearGrad();
            free.computeIfAbsent(g.length, n -> new ArrayDeque<>()).push(g);
        }
        float[] d = v.value().data();
        if (lent.remove(d)) free.computeIfAbsent(d.length, n -> new ArrayDeque<>()).push(d);
    }

    /** Forgets the pooled arrays (after training, so that the memory can be collected). */
    public void dropBuffers() {
        free.clear();
    }

    /** A zeroed array of n floats: from the pool inside {@link #reuseBuffers()}, otherwise new. */
    float[] allocate(int n) {
        if (reuseDepth == 0 || n < POOL_MIN) return new float[n];
        ArrayDeque<float[]> q = free.get(n);
        float[] a = q == null ? null : q.poll();
        if (a == null) a = new float[n];
        else Arrays.fill(a, 0f);
        lent.add(a);
        if (segmentArrays != null) segmentArrays.add(a);
        return a;
    }

    /** Returns a pooled array to the pool early, when its holder knows nobody reads it any more (no-op otherwise). */
    void release(float[] a) {
        if (a != null && lent.remove(a)) free.computeIfAbsent(a.length, n -> new ArrayDeque<>()).push(a);
    }

    /**
     * A recording set apart from the tape's: while open, ops record into its own empty lists (the outer recording
     * waits untouched, even in the middle of {@link #backward}), and the pooled arrays handed out are collected so
     * that the segment can give back all but the ones that outlive it. What gradient checkpointing is built on.
     */
    final class Segment implements Scope {
        private final List<Step> outerSteps = steps;
        private final List<Variable> outerIntermediates = intermediates;
        private final List<float[]> outerArrays = segmentArrays;
        private final List<float[]> arrays = new ArrayList<>();
        private boolean closed;

        private Segment() {
            steps = new ArrayList<>();
            intermediates = new ArrayList<>();
            segmentArrays = arrays;
        }

        /**
         * Backpropagates {@code dy} from {@code y} through what this segment recorded, newest first, giving
         * pooled outputs back as their steps run, then forgets the recording.
         */
        void backward(Variable y, float[] dy) {
            if (y.requiresGrad()) {
                float[] g = y.gradForAccumulation();
                VectorMath.axpy(1f, dy, 0, g, 0, dy.length);
                runSteps();
            }
            clear();
        }

        /**
         * Closes the segment: the outer recording is back, and every pooled array handed out inside goes back to
         * the pool except {@code survivors} (arrays still referenced from outside), which the enclosing segment,
         * if any, now answers for.
         */
        void close(float[]... survivors) {
            if (closed) return;
            closed = true;
            clear();
            steps = outerSteps;
            intermediates = outerIntermediates;
            segmentArrays = outerArrays;
            java.util.Set<float[]> keep = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            for (float[] a : survivors) if (a != null) keep.add(a);
            for (float[] a : arrays) {
                if (!keep.contains(a)) release(a);
                else if (outerArrays != null) outerArrays.add(a);
            }
        }

        @Override
        public void close() {
            close(new float[0][]);
        }
    }

    /** Opens a {@link Segment}; close it (with its survivors) before the outer recording goes on. */
    Segment segment() {
        return new Segment();
    }

    /** Arrays waiting in the pool (for tests). */
    int pooledArrays() {
        int n = 0;
        for (ArrayDeque<float[]> q : free.values()) n += q.size();
        return n;
    }

    /** Whether {@link #allocate} pools right now (an output made now gets its gradient from the pool too). */
    boolean reusing() {
        return reuseDepth > 0;
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
            runSteps();
        } finally {
            clear();
        }
    }

    private void runSteps() {
        // A step may open a Segment (a checkpointed block recomputing its forward), which swaps the lists and
        // puts them back before it returns: so read them through the fields on every iteration.
        for (int i = steps.size() - 1; i >= 0; i--) {
            steps.get(i).backward();
            // Inside reuseBuffers, an output whose step has run is needed by nobody any more (its consumers'
            // steps ran before): its value and gradient go back to the pool for the steps still to run.
            if (reuseDepth > 0) giveBack(intermediates.get(i));
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
