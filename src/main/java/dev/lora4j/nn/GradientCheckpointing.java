package dev.lora4j.nn;

import java.util.ArrayList;
import java.util.List;

/**
 * A stack of layers that can run each layer under gradient checkpointing (transformers'
 * {@code gradient_checkpointing_enable()}): activations of one layer at a time instead of all of them, for one
 * more forward per layer during backward. Off by default.
 */
public interface GradientCheckpointing {
    void setGradientCheckpointing(boolean on);

    boolean gradientCheckpointing();

    /**
     * Turns checkpointing on or off in every stack below {@code root} and returns their paths; an error when the
     * model has none (naming the model's class), so that a flag asking for it never silently does nothing.
     */
    static List<String> enable(Module root, boolean on) {
        List<String> paths = new ArrayList<>();
        root.namedModules().forEach((path, m) -> {
            if (m instanceof GradientCheckpointing g) {
                g.setGradientCheckpointing(on);
                paths.add(path.isEmpty() ? "(root)" : path);
            }
        });
        if (paths.isEmpty()) {
            throw new UnsupportedOperationException("gradient checkpointing: " + root.getClass().getSimpleName()
                + " has no layer stack that supports it (Llama, Mistral, Qwen2, GPT-2 and BERT models do)");
        }
        return paths;
    }
}
