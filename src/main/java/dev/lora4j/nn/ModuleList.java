package dev.lora4j.nn;

import java.util.ArrayList;
import java.util.List;

/** Children named 0, 1, 2, ... (PyTorch's nn.ModuleList), e.g. a transformer's stack of layers. */
public final class ModuleList<T extends Module> extends Module {
    private final List<Slot<T>> items = new ArrayList<>();

    public ModuleList(List<T> modules) {
        for (T m : modules) items.add(register(Integer.toString(items.size()), m));
    }

    public T get(int i) {
        return items.get(i).get();
    }

    public int size() {
        return items.size();
    }
}
