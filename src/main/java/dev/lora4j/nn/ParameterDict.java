package dev.lora4j.nn;

import dev.lora4j.autograd.Variable;

/** Parameters under names chosen at run time (PyTorch's nn.ParameterDict), e.g. LoRA embedding matrices per adapter. */
public final class ParameterDict extends Module {
    public void put(String name, Variable p) {
        unregister(name);
        parameter(name, p);
    }

    public Variable at(String name) {
        Variable v = localParameters().get(name);
        if (v == null) throw new IllegalArgumentException("no entry '" + name + "'; entries: " + localParameters().keySet());
        return v;
    }

    public boolean remove(String name) {
        return unregister(name);
    }
}
