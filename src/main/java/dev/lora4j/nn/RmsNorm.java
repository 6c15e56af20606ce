package dev.lora4j.nn;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;

/** RMSNorm over the last dimension (parameter {@code weight}), as LlamaRMSNorm. */
public final class RmsNorm extends Module {
    private final Variable weight;
    private final float eps;

    public RmsNorm(Variable weight, float eps) {
        this.weight = parameter("weight", weight);
        this.eps = eps;
    }

    public static RmsNorm identity(int dim, float eps) {
        return new RmsNorm(Variable.parameter(Init.constant(1f, dim)), eps);
    }

    public Variable forward(Variable x) {
        return Ops.rmsNorm(x, weight, eps);
    }

    public Variable weight() {
        return weight;
    }
}
