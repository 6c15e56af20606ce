package dev.lora4j.nn;

import dev.lora4j.autograd.GradientCheckpoint;
import dev.lora4j.autograd.Variable;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Runs one block of a model (a decoder or encoder layer) under {@link GradientCheckpoint}, with the random state
 * of every {@link Stochastic} module inside it saved before the forward and put back before the recomputation.
 */
public final class CheckpointedBlock {
    private CheckpointedBlock() {}

    /** {@code forward(x)}, where {@code forward} runs {@code block}; recomputed during backward. */
    public static Variable forward(Module block, Variable x, UnaryOperator<Variable> forward) {
        List<Stochastic> random = new ArrayList<>();
        for (Module m : block.namedModules().values()) if (m instanceof Stochastic s) random.add(s);
        long[] states = new long[random.size()];
        for (int i = 0; i < states.length; i++) states[i] = random.get(i).randomState();
        return GradientCheckpoint.apply(x, forward, () -> {
            long[] now = new long[states.length];
            for (int i = 0; i < states.length; i++) {
                now[i] = random.get(i).randomState();
                random.get(i).restoreRandomState(states[i]);
            }
            return () -> {
                for (int i = 0; i < now.length; i++) random.get(i).restoreRandomState(now[i]);
            };
        });
    }
}
