package dev.lora4j.peft;

import java.nio.file.Path;

/**
 * One LoRA adapter as a serving model holds it: its config and, per wrapped layer of a {@link MultiAdapterModel}
 * (by the layer's slot), A [r, in] and B [out, r], or null where the adapter does not touch that layer.
 * Immutable once read, so a request that started with it keeps computing with it even after the adapter has been
 * unloaded from the server (the request simply still holds it).
 *
 * @param name   the name requests use
 * @param source the adapter directory it was read from
 */
public record ServedAdapter(String name, Path source, LoraConfig config, float[][] a, float[][] b) {

    public float scaling() {
        return config.scaling();
    }

    public int rank() {
        return config.r();
    }

    /** Whether the adapter has weights for the layer in {@code slot}. */
    public boolean touches(int slot) {
        return a[slot] != null;
    }

    /** Bytes of weights held (A and B of every layer it touches). */
    public long bytes() {
        long n = 0;
        for (int i = 0; i < a.length; i++) if (a[i] != null) n += 4L * (a[i].length + b[i].length);
        return n;
    }
}
