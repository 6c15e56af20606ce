package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Module;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The count Peft's print_trainable_parameters gives (trainable, total, %), plus a breakdown by the kind of
 * module that owns each parameter, so one sees where the trainable share sits.
 */
public record TrainableParameters(long trainable, long total, Map<String, long[]> byModuleType) {

    /** Counts a model tree; byModuleType maps a module class name to {trainable, total}. */
    public static TrainableParameters of(Module root) {
        long trainable = 0, total = 0;
        Map<String, long[]> byType = new LinkedHashMap<>();
        // A shared parameter (tied embeddings) counts once, as in Peft's print_trainable_parameters.
        java.util.Set<Variable> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (var e : root.namedModules().entrySet()) {
            for (Variable p : e.getValue().localParameters().values()) {
                if (!seen.add(p)) continue;
                String type = e.getValue().getClass().getSimpleName();
                long[] c = byType.computeIfAbsent(type, k -> new long[2]);
                c[1] += p.size();
                total += p.size();
                if (p.requiresGrad()) {
                    c[0] += p.size();
                    trainable += p.size();
                }
            }
        }
        return new TrainableParameters(trainable, total, byType);
    }

    public double percent() {
        return total == 0 ? 0 : 100.0 * trainable / total;
    }

    /** Peft's line: {@code trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364}. */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %.4f", trainable, total, percent());
    }
}
