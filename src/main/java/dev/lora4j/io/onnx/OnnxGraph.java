package dev.lora4j.io.onnx;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of an ONNX GraphProto a weight import needs: the nodes in file order (ONNX requires topological
 * order), the initializers (named constant tensors: the weights) by name, and the names of the graph's inputs
 * and outputs.
 */
public record OnnxGraph(List<OnnxNode> nodes, Map<String, OnnxTensor> initializers,
                        List<String> inputs, List<String> outputs) {
    public OnnxGraph {
        nodes = List.copyOf(nodes);
        initializers = Map.copyOf(initializers);
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    /** Every node that reads the value named, in graph order. */
    public List<OnnxNode> consumers(String value) {
        return nodes.stream().filter(n -> n.inputs().contains(value)).toList();
    }

    /** Value name -> the nodes that read it, built in one pass (for walking a large graph). */
    public Map<String, List<OnnxNode>> consumersByValue() {
        Map<String, List<OnnxNode>> map = new HashMap<>();
        for (OnnxNode n : nodes) {
            for (String in : n.inputs()) {
                List<OnnxNode> list = map.computeIfAbsent(in, k -> new ArrayList<>());
                if (list.isEmpty() || list.getLast() != n) list.add(n);
            }
        }
        return map;
    }

    /** Value name -> the node that writes it. */
    public Map<String, OnnxNode> producerByValue() {
        Map<String, OnnxNode> map = new HashMap<>();
        for (OnnxNode n : nodes) for (String out : n.outputs()) map.put(out, n);
        return map;
    }
}
