package dev.lora4j.nn;

import dev.lora4j.autograd.Variable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * A node of the model tree, named like PyTorch's nn.Module: children and parameters under local names, so
 * that dotted paths ({@code model.layers.0.self_attn.q_proj.weight}) match Hugging Face checkpoint keys and
 * Peft adapter keys one to one. Children live in {@link Slot}s so that LoRA injection can swap a layer for
 * its wrapped version without the parent knowing.
 */
public abstract class Module {
    private final Map<String, Slot<? extends Module>> children = new LinkedHashMap<>();
    private final Map<String, Variable> parameters = new LinkedHashMap<>();
    private boolean training = true;

    /** Registers a child; the parent keeps the slot and reads it on every forward. */
    protected final <T extends Module> Slot<T> register(String name, T child) {
        checkName(name);
        Slot<T> slot = new Slot<>(child);
        children.put(name, slot);
        return slot;
    }

    /** Removes a child or parameter registered under {@code name}; false when there was none. */
    protected final boolean unregister(String name) {
        return children.remove(name) != null | parameters.remove(name) != null;
    }

    /** Registers a parameter under a local name ({@code weight}, {@code bias}). */
    protected final Variable parameter(String name, Variable p) {
        checkName(name);
        parameters.put(name, p);
        return p;
    }

    private void checkName(String name) {
        if (name.isEmpty() || name.contains(".")) throw new IllegalArgumentException("bad module/parameter name '" + name + "'");
        if (children.containsKey(name) || parameters.containsKey(name)) {
            throw new IllegalArgumentException("'" + name + "' registered twice in " + getClass().getSimpleName());
        }
    }

    public final Map<String, Module> children() {
        Map<String, Module> m = new LinkedHashMap<>();
        children.forEach((k, v) -> m.put(k, v.get()));
        return Collections.unmodifiableMap(m);
    }

    public final Map<String, Variable> localParameters() {
        return Collections.unmodifiableMap(parameters);
    }

    /**
     * Every parameter of the subtree by dotted path, in registration order (PyTorch's named_parameters). A
     * parameter shared by two modules (tied embeddings) is listed once, under its first path, as PyTorch does,
     * so counts and optimizers see it once.
     */
    public final Map<String, Variable> namedParameters() {
        Map<String, Variable> out = new LinkedHashMap<>();
        java.util.Set<Variable> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        visit("", (path, m) -> m.parameters.forEach((k, v) -> {
            if (seen.add(v)) out.put(join(path, k), v);
        }));
        return out;
    }

    /** Every module of the subtree by dotted path, this one under "" (PyTorch's named_modules). */
    public final Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        visit("", out::put);
        return out;
    }

    private void visit(String path, BiConsumer<String, Module> f) {
        f.accept(path, this);
        for (var e : children.entrySet()) ((Module) e.getValue().get()).visit(join(path, e.getKey()), f);
    }

    static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    /** The module at a dotted path below this one. */
    public final Module get(String path) {
        Module m = this;
        if (path.isEmpty()) return m;
        for (String part : path.split("\\.")) {
            Slot<? extends Module> s = m.children.get(part);
            if (s == null) throw new IllegalArgumentException("no module '" + path + "' (no child '" + part + "' in " + m.getClass().getSimpleName() + ")");
            m = s.get();
        }
        return m;
    }

    /**
     * Replaces the module at a dotted path. The replacement must be of the same kind as the original's
     * declared slot (a {@link LinearLayer} for a linear, say); that is how LoRA wrappers are injected.
     */
    public final void replace(String path, Module replacement) {
        int dot = path.lastIndexOf('.');
        Module parent = dot < 0 ? this : get(path.substring(0, dot));
        String name = path.substring(dot + 1);
        Slot<? extends Module> slot = parent.children.get(name);
        if (slot == null) throw new IllegalArgumentException("no module '" + path + "' to replace");
        slot.replace(replacement);
    }

    /** Marks every parameter of the subtree trainable or frozen. */
    public final void setTrainable(boolean trainable) {
        namedParameters().values().forEach(p -> p.setRequiresGrad(trainable));
    }

    /** Training mode enables dropout; evaluation mode disables it. Applies to the whole subtree. */
    public final void train(boolean on) {
        namedModules().values().forEach(m -> m.training = on);
    }

    public final boolean training() {
        return training;
    }

    /** Total number of parameter elements in the subtree. */
    public final long parameterCount() {
        long n = 0;
        for (Variable v : namedParameters().values()) n += v.size();
        return n;
    }
}
