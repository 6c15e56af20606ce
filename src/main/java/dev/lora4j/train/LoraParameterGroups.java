package dev.lora4j.train;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.train.optim.ParamGroup;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How the optimizer sees a LoRA model's trainable parameters: LoRA+ (Hayou et al. 2024) trains B at
 * {@code ratio} times the learning rate of everything else, and an optional L2 penalty λ·Σ‖p‖² on the LoRA
 * matrices A and B is added to the loss.
 */
public record LoraParameterGroups(List<ParamGroup> groups, List<Variable> penalised, double l2) {

    /**
     * Splits the trainable parameters by name: {@code ...lora_B...} into a group at {@code ratio}, the rest at 1;
     * A and B are the ones penalised.
     *
     * @param named trainable parameters by dotted path, in a stable order
     */
    public static LoraParameterGroups of(Map<String, Variable> named, double ratio, double weightDecay, double l2) {
        if (!(ratio > 0) || Double.isInfinite(ratio)) throw new IllegalArgumentException("lr-ratio must be positive, got " + ratio);
        if (!(l2 >= 0) || Double.isInfinite(l2)) throw new IllegalArgumentException("l2 must be >= 0, got " + l2);
        List<Variable> b = new ArrayList<>(), rest = new ArrayList<>(), penalised = new ArrayList<>();
        named.forEach((name, v) -> {
            boolean isB = name.contains(".lora_B.") || name.contains(".lora_embedding_B.");
            boolean isA = name.contains(".lora_A.") || name.contains(".lora_embedding_A.");
            (isB ? b : rest).add(v);
            if (isA || isB) penalised.add(v);
        });
        List<ParamGroup> groups = ratio == 1 || b.isEmpty()
            ? List.of(ParamGroup.of(List.copyOf(named.values()), weightDecay))
            : List.of(ParamGroup.of(rest, weightDecay), new ParamGroup(b, ratio, weightDecay));
        return new LoraParameterGroups(groups, List.copyOf(penalised), l2);
    }

    /** loss + l2·Σ‖p‖² over the penalised parameters (the loss itself when l2 is 0). */
    public Variable penalise(Variable loss) {
        if (l2 == 0) return loss;
        for (Variable p : penalised) loss = Ops.addScaled(loss, Ops.sumOfSquares(p), (float) l2);
        return loss;
    }
}
