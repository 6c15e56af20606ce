package dev.lora4j.generate;

/** Receives each generated token id as soon as it is chosen (streaming), in order, stop token included. */
@FunctionalInterface
public interface TokenListener {
    /** A listener that ignores every token. */
    TokenListener NONE = id -> {};

    void onToken(int id);
}
