package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;

import java.util.List;

/**
 * Parameters that share optimizer settings, like a torch param group: a multiplier of the optimizer's
 * learning rate (LoRA+ trains B at {@code lr * ratio}) and a weight decay (biases and norms usually get 0).
 * Expressing the rate as a multiplier lets a schedule drive one base rate for every group.
 */
public record ParamGroup(List<Variable> params, double lrScale, double weightDecay) {

    public ParamGroup {
        params = List.copyOf(params);
        if (!(lrScale >= 0) || Double.isInfinite(lrScale)) {
            throw new IllegalArgumentException("lrScale must be finite and >= 0, got " + lrScale);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new IllegalArgumentException("weightDecay must be finite and >= 0, got " + weightDecay);
        }
    }

    /** A group at the base learning rate. */
    public static ParamGroup of(List<Variable> params, double weightDecay) {
        return new ParamGroup(params, 1.0, weightDecay);
    }
}
