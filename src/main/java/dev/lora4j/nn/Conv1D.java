package dev.lora4j.nn;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/**
 * transformers' Conv1D (GPT-2's projections): despite the name a linear layer, y = x·W + b, with W stored
 * [in, out] (the transpose of {@link Linear}'s layout; Peft calls this fan_in_fan_out) and b [out]. Parameters
 * {@code weight}, {@code bias}, as in the checkpoint.
 */
public final class Conv1D extends LinearLayer {
    private final Variable weight;
    private final Variable bias;

    public Conv1D(Variable weight, Variable bias) {
        if (weight.shape().rank() != 2) throw new IllegalArgumentException("Conv1D weight must be [in, out], got " + weight.shape());
        if (bias != null && bias.size() != weight.shape().dim(1)) {
            throw new IllegalArgumentException("Conv1D bias " + bias.shape() + " does not match weight " + weight.shape() + " ([in, out])");
        }
        this.weight = parameter("weight", weight);
        this.bias = bias == null ? null : parameter("bias", bias);
    }

    /** transformers' initialisation: weight N(0, 0.02), bias 0. */
    public static Conv1D random(int in, int out, RandomGenerator rnd) {
        return new Conv1D(Variable.parameter(Init.normal(rnd, 0.02f, in, out)), Variable.parameter(Tensor.zeros(out)));
    }

    /** From checkpoint tensors: weight [in, out], bias [out] or null. */
    public static Conv1D of(Tensor weight, Tensor bias) {
        return new Conv1D(Variable.parameter(weight), bias == null ? null : Variable.parameter(bias));
    }

    @Override
    public Variable forward(Variable x) {
        return Ops.linearInOut(x, weight, bias);
    }

    /** The weight, [in, out]. */
    public Variable weight() {
        return weight;
    }

    /** The bias, or null. */
    public Variable bias() {
        return bias;
    }

    @Override
    public int inFeatures() {
        return weight.shape().dim(0);
    }

    @Override
    public int outFeatures() {
        return weight.shape().dim(1);
    }
}
