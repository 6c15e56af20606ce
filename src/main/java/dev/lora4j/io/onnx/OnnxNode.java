package dev.lora4j.io.onnx;

import java.util.List;
import java.util.Map;

/**
 * One ONNX NodeProto: an operator applied to named values. Inputs and outputs are value names; an empty
 * string stands for an omitted optional input. {@code attributes} holds the attributes this reader decodes
 * (ints, floats, tensors), by name; the rest of the node is skipped.
 */
public record OnnxNode(String name, String opType, List<String> inputs, List<String> outputs,
                       Map<String, OnnxAttribute> attributes) {
    public OnnxNode {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        attributes = Map.copyOf(attributes);
    }

    /** The attribute named, or null. */
    public OnnxAttribute attribute(String attributeName) {
        return attributes.get(attributeName);
    }

    @Override
    public String toString() {
        return opType + " '" + name + "' " + inputs + " -> " + outputs;
    }
}
