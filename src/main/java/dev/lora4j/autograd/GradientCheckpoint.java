package dev.lora4j.autograd;

import java.util.function.UnaryOperator;

/**
 * Gradient checkpointing (Chen et al. 2016, "Training deep nets with sublinear memory cost"; PyTorch's
 * {@code torch.utils.checkpoint}): a block's forward runs and keeps only its output; its intermediate activations
 * go back to the tape's pool at once. When backward reaches the block, the forward runs again from the kept input,
 * this time recorded, and the block's gradient flows through that fresh recording, which is dropped again before
 * the next block. A decoder of L layers then holds L layer inputs plus one layer's activations instead of L
 * layers' activations, for one more forward per layer.
 *
 * <p>The block may read any constant and any leaf variable (parameters, trainable or not), but the only op output
 * from outside that it may use is x: an outer op output reached from inside would get its gradient from arrays the
 * recomputation gives back to the pool when it ends. The block must compute the same thing twice: a block that draws random numbers (dropout) must be handed a
 * {@link Replay} that puts its random state back to what it was before the first forward, and afterwards to what it
 * was before the recomputation (so that forwards run after this block, e.g. a second batch through the same
 * layers, keep the draws they would have had without checkpointing).
 */
public final class GradientCheckpoint {
    private GradientCheckpoint() {}

    /** How a block's random state is rewound for its recomputation. */
    @FunctionalInterface
    public interface Replay {
        /** A block without random state. */
        Replay NONE = () -> () -> {};

        /** Sets the state the first forward started from; closing the scope puts back the state of now. */
        Tape.Scope rewind();
    }

    /**
     * {@code block(x)}, recorded as one step that recomputes the block during backward. Outside a recording
     * ({@link Tape#noGrad()}) this is just {@code block.apply(x)}.
     */
    public static Variable apply(Variable x, UnaryOperator<Variable> block, Replay replay) {
        Tape tape = Tape.current();
        if (!tape.recording()) return block.apply(x);
        Variable y;
        // Recorded (so that y knows whether it needs a gradient, as it would without checkpointing), then dropped.
        Tape.Segment forward = tape.segment();
        try {
            y = block.apply(x);
        } catch (RuntimeException | Error e) {
            forward.close();
            throw e;
        }
        forward.close(y.data());
        if (!y.requiresGrad()) return y;
        Variable out = Variable.pooledView(y.value(), true);
        tape.record(out, () -> {
            if (out.grad() == null) return;
            // A fresh leaf over the same input values: the recomputed block's gradient with respect to x lands
            // here, and is then handed to x (if x needs one).
            Variable in = Variable.pooledView(x.value(), x.requiresGrad());
            Tape.Segment again = tape.segment();
            float[] survivor = null;
            try (var _ = replay.rewind()) {
                Variable y2 = block.apply(in);
                again.backward(y2, out.grad());
                if (in.grad() != null) {
                    x.addGradHandingOver(in.grad(), 1f);
                    if (x.grad() == in.grad()) survivor = in.grad();
                }
            } finally {
                again.close(survivor);
            }
        });
        return out;
    }
}
