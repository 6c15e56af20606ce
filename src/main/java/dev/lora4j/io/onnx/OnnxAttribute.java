package dev.lora4j.io.onnx;

/**
 * The parts of an ONNX AttributeProto this reader decodes: a single int ({@code i}), float ({@code f}),
 * repeated ints ({@code ints}) or a tensor ({@code t}, e.g. the {@code value} of a Constant node). Fields the
 * attribute does not set are 0 / null. Strings, graphs and sparse tensors are skipped.
 */
public record OnnxAttribute(String name, long i, float f, long[] ints, OnnxTensor t) {
}
