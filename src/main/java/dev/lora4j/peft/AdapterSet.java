package dev.lora4j.peft;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The per-layer bookkeeping shared by the LoRA wrappers: which adapters exist, are active, are merged. */
final class AdapterSet {
    /** What a layer keeps of an adapter's config. */
    record Settings(int r, float scaling, float dropout) {}

    private final Map<String, Settings> settings = new LinkedHashMap<>();
    private final List<String> active = new ArrayList<>();
    private final List<String> merged = new ArrayList<>();
    private boolean disabled;

    void add(String name, LoraConfig c) {
        settings.put(name, new Settings(c.r(), c.scaling(), c.loraDropout()));
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

    void markMerged(String name) {
        merged.add(name);
    }

    /** Merged names, newest first, cleared: the order unmerging must follow. */
    List<String> takeMergedNewestFirst() {
        List<String> out = new ArrayList<>(merged);
        java.util.Collections.reverse(out);
        merged.clear();
        return out;
    }
}
