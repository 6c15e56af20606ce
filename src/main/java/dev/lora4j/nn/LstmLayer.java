package dev.lora4j.nn;

import dev.lora4j.autograd.Variable;

/** Anything that stands where an LSTM stands: a plain {@link Lstm} or a LoRA wrapper of one. */
public abstract class LstmLayer extends Module {
    /** x [batch, seq, input] (batch_first) to the last layer's hidden states [batch, seq, hidden·directions]. */
    public abstract Variable forward(Variable x);

    public abstract int inputSize();

    public abstract int hiddenSize();

    public abstract int numLayers();

    public abstract boolean bidirectional();
}
