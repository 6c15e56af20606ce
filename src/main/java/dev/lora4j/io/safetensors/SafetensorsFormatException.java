package dev.lora4j.io.safetensors;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file (or a sharded model's index) whose bytes do not add up. The message always starts with
 * the file's path and, where one tensor is at fault, its name, then says what was expected and what was found.
 *
 * <p>An {@link IOException}, like {@link java.util.zip.ZipException}: it is found while opening a file, where
 * callers already handle I/O failures, and a corrupt download deserves the same handling as a missing one.
 */
public final class SafetensorsFormatException extends IOException {
    private final transient Path file;
    private final String tensor;

    public SafetensorsFormatException(Path file, String message) {
        this(file, null, message, null);
    }

    public SafetensorsFormatException(Path file, String tensor, String message) {
        this(file, tensor, message, null);
    }

    public SafetensorsFormatException(Path file, String tensor, String message, Throwable cause) {
        super(file + (tensor == null ? "" : ": tensor " + Names.quote(tensor)) + ": " + message, cause);
        this.file = file;
        this.tensor = tensor;
    }

    /** The file at fault. */
    public Path file() {
        return file;
    }

    /** The tensor at fault, or null when the problem is not one tensor's. */
    public String tensor() {
        return tensor;
    }
}
