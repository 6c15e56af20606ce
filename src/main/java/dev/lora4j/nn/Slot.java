package dev.lora4j.nn;

/**
 * Where a parent keeps a child module. Models read {@code slot.get()} on every forward, so replacing the
 * content (LoRA injection, unloading) takes effect without the parent holding a stale reference.
 */
public final class Slot<T extends Module> {
    private T module;
    private final Class<?> kind;

    Slot(T module) {
        this.module = module;
        this.kind = kindOf(module);
    }

    public T get() {
        return module;
    }

    @SuppressWarnings("unchecked")
    void replace(Module replacement) {
        if (!kind.isInstance(replacement)) {
            throw new IllegalArgumentException("cannot put a " + replacement.getClass().getSimpleName() + " where a "
                + kind.getSimpleName() + " is expected");
        }
        module = (T) replacement;
    }

    /** The replaceable kind: the abstract layer type a module implements, or its own class. */
    private static Class<?> kindOf(Module m) {
        if (m instanceof LinearLayer) return LinearLayer.class;
        if (m instanceof EmbeddingLayer) return EmbeddingLayer.class;
        if (m instanceof dev.lora4j.nn.conv.ConvLayer) return dev.lora4j.nn.conv.ConvLayer.class;
        if (m instanceof LstmLayer) return LstmLayer.class;
        return m.getClass();
    }
}
