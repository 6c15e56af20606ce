package dev.lora4j.nn;

/** Children under names chosen at run time (PyTorch's nn.ModuleDict), e.g. one LoRA matrix per adapter name. */
public final class ModuleDict<T extends Module> extends Module {
    public void put(String name, T module) {
        unregister(name);
        register(name, module);
    }

    @SuppressWarnings("unchecked")
    public T at(String name) {
        Module m = children().get(name);
        if (m == null) throw new IllegalArgumentException("no entry '" + name + "'; entries: " + children().keySet());
        return (T) m;
    }

    public boolean contains(String name) {
        return children().containsKey(name);
    }

    public boolean remove(String name) {
        return unregister(name);
    }
}
