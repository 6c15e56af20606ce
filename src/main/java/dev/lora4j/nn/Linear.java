package dev.lora4j.nn;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/** y = x·Wᵀ + b with W stored [out, in] as in PyTorch (parameters {@code weight}, {@code bias}). */
public final class Linear extends LinearLayer {
    private final Variable weight;
    private final Variable bias;

    public Linear(Variable weight, Variable bias) {
        if (weight.shape().rank() != 2) throw new IllegalArgumentException("Linear weight must be [out, in], got " + weight.shape());
        if (bias != null && bias.size() != weight.shape().dim(0)) {
            throw new IllegalArgumentException("Linear bias " + bias.shape() + " does not match weight " + weight.shape());
        }
        this.weight = parameter("weight", weight);
        this.bias = bias == null ? null : parameter("bias", bias);
    }

    /** PyTorch's default initialisation: U(-1/√in, 1/√in) for weight and bias. */
    public static Linear random(int in, int out, boolean bias, RandomGenerator rnd) {
        float bound = (float) (1 / Math.sqrt(in));
        return new Linear(Variable.parameter(Init.uniform(rnd, bound, out, in)),
            bias ? Variable.parameter(Init.uniform(rnd, bound, out)) : null);
    }

    public static Linear of(Tensor weight, Tensor bias) {
        return new Linear(Variable.parameter(weight), bias == null ? null : Variable.parameter(bias));
    }

    @Override
    public Variable forward(Variable x) {
        return Ops.linear(x, weight, bias);
    }

    public Variable weight() {
        return weight;
    }

    /** The bias, or null. */
    public Variable bias() {
        return bias;
    }

    @Override
    public int inFeatures() {
        return weight.shape().dim(1);
    }

    @Override
    public int outFeatures() {
        return weight.shape().dim(0);
    }
}
