package dev.lora4j.nn;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import java.util.random.RandomGenerator;

/** A lookup table [num, dim] (parameter {@code weight}). */
public final class Embedding extends EmbeddingLayer {
    private final Variable weight;

    public Embedding(Variable weight) {
        if (weight.shape().rank() != 2) throw new IllegalArgumentException("Embedding weight must be [num, dim], got " + weight.shape());
        this.weight = parameter("weight", weight);
    }

    /** PyTorch's default initialisation: N(0, 1). */
    public static Embedding random(int num, int dim, RandomGenerator rnd) {
        return new Embedding(Variable.parameter(Init.normal(rnd, 1f, num, dim)));
    }

    @Override
    public Variable forward(int[] ids) {
        return Ops.embedding(weight, ids);
    }

    public Variable weight() {
        return weight;
    }

    @Override
    public int numEmbeddings() {
        return weight.shape().dim(0);
    }

    @Override
    public int embeddingDim() {
        return weight.shape().dim(1);
    }
}
