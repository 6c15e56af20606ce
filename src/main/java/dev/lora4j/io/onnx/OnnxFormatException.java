package dev.lora4j.io.onnx;

import java.io.IOException;

/**
 * An ONNX model whose bytes do not add up, or whose graph is not laid out the way a mapping expects. The message
 * starts with the model's source (a file path or a classpath resource) and, where one field or tensor is at
 * fault, its place in the protobuf ({@code graph.initializer[12].raw_data}), then says what was expected and
 * what was found.
 *
 * <p>An {@link IOException}, like {@link java.util.zip.ZipException}: it is found while loading a model, where
 * callers already handle I/O failures, and a corrupt download deserves the same handling as a missing one.
 */
public final class OnnxFormatException extends IOException {
    private final String source;
    private final String field;

    public OnnxFormatException(String source, String field, String message) {
        super(source + (field == null ? "" : ": " + field) + ": " + message);
        this.source = source;
        this.field = field;
    }

    /** The model at fault: a path or a classpath resource name. */
    public String source() {
        return source;
    }

    /** Where in the model: a protobuf field path or a tensor name; null when the model as a whole is at fault. */
    public String field() {
        return field;
    }
}
