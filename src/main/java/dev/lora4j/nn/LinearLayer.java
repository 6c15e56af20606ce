package dev.lora4j.nn;

import dev.lora4j.autograd.Variable;

/** Anything that maps [..., in] to [..., out] where a linear layer stands: a plain {@link Linear} or a wrapper of one. */
public abstract class LinearLayer extends Module {
    public abstract Variable forward(Variable x);

    public abstract int inFeatures();

    public abstract int outFeatures();
}
