package dev.lora4j.nn;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;

/** LayerNorm over the last dimension (parameters {@code weight}, {@code bias}), as torch.nn.LayerNorm. */
public final class LayerNorm extends Module {
    private final Variable weight;
    private final Variable bias;
    private final float eps;

    public LayerNorm(Variable weight, Variable bias, float eps) {
        this.weight = parameter("weight", weight);
        this.bias = bias == null ? null : parameter("bias", bias);
        this.eps = eps;
    }

    /** Identity initialisation: weight 1, bias 0. */
    public static LayerNorm identity(int dim, float eps) {
        return new LayerNorm(Variable.parameter(Init.constant(1f, dim)), Variable.parameter(Tensor.zeros(dim)), eps);
    }

    public Variable forward(Variable x) {
        return Ops.layerNorm(x, weight, bias, eps);
    }

    public Variable weight() {
        return weight;
    }

    public Variable bias() {
        return bias;
    }
}
