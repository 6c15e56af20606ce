package dev.lora4j.peft;

import dev.lora4j.kernel.VectorMath;
import dev.lora4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** The per-layer bookkeeping shared by the LoRA wrappers: which adapters exist, are active, are merged. */
final class AdapterSet {
    /** What a layer keeps of an adapter's config. */
    record Settings(int r, float scaling, float dropout) {}

    private final Map<String, Settings> settings = new LinkedHashMap<>();
    private final List<String> active = new ArrayList<>();
    private final List<String> merged = new ArrayList<>();
    private boolean disabled;

    void add(String name, LoraConfig c) {
        add(name, new Settings(c.r(), c.scaling(), c.loraDropout()));
    }

    void add(String name, Settings s) {
        settings.put(name, s);
        if (active.isEmpty()) active.add(name);
    }

    void remove(String name) {
        require(name);
        if (merged.contains(name)) throw new IllegalStateException("adapter '" + name + "' is merged; unmerge before deleting it");
        settings.remove(name);
        active.remove(name);
    }

    Settings require(String name) {
        Settings s = settings.get(name);
        if (s == null) throw new IllegalArgumentException("no adapter '" + name + "'; this layer has " + settings.keySet());
        return s;
    }

    List<String> names() {
        return List.copyOf(settings.keySet());
    }

    void setActive(List<String> names) {
        names.forEach(this::require);
        active.clear();
        active.addAll(names);
    }

    List<String> active() {
        return List.copyOf(active);
    }

    /** Adapters whose branch forward must compute: active, not merged, and the layer not disabled. */
    List<String> unmergedActive() {
        if (disabled) return List.of();
        List<String> out = new ArrayList<>(active);
        out.removeAll(merged);
        return out;
    }

    boolean disabled() {
        return disabled;
    }

    void setDisabled(boolean d) {
        disabled = d;
    }

    List<String> merged() {
        return List.copyOf(merged);
    }

    /** weight += delta(name) for each named adapter not merged yet; their branches then stay out of forward. */
    void merge(List<String> names, float[] weight, Function<String, Tensor> delta) {
        for (String name : names) {
            require(name);
            if (merged.contains(name)) continue;
            VectorMath.axpy(1f, delta.apply(name).data(), 0, weight, 0, weight.length);
            merged.add(name);
        }
    }

    /**
     * Merge for a layer with several weights (an LSTM's matrices): {@code add.accept(name, +1)} must add the
     * adapter's delta to each of them.
     */
    void merge(List<String> names, java.util.function.ObjIntConsumer<String> add) {
        for (String name : names) {
            require(name);
            if (merged.contains(name)) continue;
            add.accept(name, 1);
            merged.add(name);
        }
    }

    /** Unmerge for a layer with several weights: {@code add.accept(name, −1)} subtracts the delta again. */
    void unmerge(java.util.function.ObjIntConsumer<String> add) {
        for (int i = merged.size() - 1; i >= 0; i--) add.accept(merged.get(i), -1);
        merged.clear();
    }

    /** weight −= delta for every merged adapter, newest first: W is back to the base up to float rounding. */
    void unmerge(float[] weight, Function<String, Tensor> delta) {
        for (int i = merged.size() - 1; i >= 0; i--) {
            VectorMath.axpy(-1f, delta.apply(merged.get(i)).data(), 0, weight, 0, weight.length);
        }
        merged.clear();
    }
}
