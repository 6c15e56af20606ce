package dev.lora4j.nn;

import dev.lora4j.autograd.LstmOps;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.tensor.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.random.RandomGenerator;

/**
 * torch.nn.LSTM with batch_first=True, zero initial states, any number of layers, optionally bidirectional.
 * Parameters carry torch's names, per layer k and direction: {@code weight_ih_l{k}} [4h, in],
 * {@code weight_hh_l{k}} [4h, h], {@code bias_ih_l{k}}, {@code bias_hh_l{k}} [4h], with suffix {@code _reverse}
 * for the backward direction; gates are stacked i, f, g, o. Layer k > 0 reads the previous layer's output
 * (both directions concatenated).
 */
public final class Lstm extends LstmLayer {
    private final int inputSize;
    private final int hiddenSize;
    private final int numLayers;
    private final boolean bidirectional;

    /** @param params every parameter by torch's name (see {@link #parameterNames}) */
    public Lstm(int inputSize, int hiddenSize, int numLayers, boolean bidirectional, Map<String, Variable> params) {
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.numLayers = numLayers;
        this.bidirectional = bidirectional;
        for (String name : parameterNames(numLayers, bidirectional)) {
            Variable v = params.get(name);
            if (v == null) throw new IllegalArgumentException("LSTM: missing parameter " + name);
            int[] want = expectedShape(name);
            if (!v.shape().equals(Shape.of(want))) {
                throw new IllegalArgumentException("LSTM: " + name + " is " + v.shape() + ", expected " + Arrays.toString(want));
            }
            parameter(name, v);
        }
    }

    /** torch's initialisation: every weight and bias U(±1/√hidden). */
    public static Lstm random(int inputSize, int hiddenSize, int numLayers, boolean bidirectional, RandomGenerator rnd) {
        Map<String, Variable> p = new LinkedHashMap<>();
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        for (String name : parameterNames(numLayers, bidirectional)) {
            p.put(name, Variable.parameter(Init.uniform(rnd, bound, shape(name, inputSize, hiddenSize, bidirectional))));
        }
        return new Lstm(inputSize, hiddenSize, numLayers, bidirectional, p);
    }

    /** The parameter names in torch's registration order. */
    public static List<String> parameterNames(int numLayers, boolean bidirectional) {
        List<String> out = new ArrayList<>();
        for (int k = 0; k < numLayers; k++) {
            for (String suffix : bidirectional ? List.of("", "_reverse") : List.of("")) {
                for (String kind : List.of("weight_ih", "weight_hh", "bias_ih", "bias_hh")) out.add(kind + "_l" + k + suffix);
            }
        }
        return out;
    }

    /** The names of the weight matrices (what LoRA adapts): weight_ih_l{k}[_reverse], weight_hh_l{k}[_reverse]. */
    public List<String> weightNames() {
        return parameterNames(numLayers, bidirectional).stream().filter(n -> n.startsWith("weight")).toList();
    }

    /** The shape torch gives parameter {@code name}. */
    public int[] expectedShape(String name) {
        return shape(name, inputSize, hiddenSize, bidirectional);
    }

    private static int[] shape(String name, int inputSize, int hiddenSize, boolean bidirectional) {
        int layer = Integer.parseInt(name.replaceAll(".*_l(\\d+).*", "$1"));
        int in = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1);
        if (name.startsWith("weight_ih")) return new int[] {4 * hiddenSize, in};
        if (name.startsWith("weight_hh")) return new int[] {4 * hiddenSize, hiddenSize};
        return new int[] {4 * hiddenSize};
    }

    @Override
    public Variable forward(Variable x) {
        return forward(x, localParameters()::get);
    }

    /**
     * The LSTM with each parameter taken from {@code params} by name: the plain weights here, weights with a
     * LoRA update added for a wrapper.
     */
    public Variable forward(Variable x, Function<String, Variable> params) {
        if (x.shape().rank() != 3 || x.shape().dim(2) != inputSize) {
            throw new IllegalArgumentException("LSTM(" + inputSize + ", " + hiddenSize + ") expects [batch, seq, " + inputSize + "], got " + x.shape());
        }
        int batch = x.shape().dim(0), seq = x.shape().dim(1);
        Variable in = x;
        for (int k = 0; k < numLayers; k++) {
            Variable out = direction(in, params, "_l" + k, batch, seq, false);
            if (bidirectional) out = LstmOps.concatColumns(out, direction(in, params, "_l" + k + "_reverse", batch, seq, true));
            in = out;
        }
        return in;
    }

    private static Variable direction(Variable in, Function<String, Variable> p, String suffix, int batch, int seq, boolean reverse) {
        Variable gx = Ops.linear(in, p.apply("weight_ih" + suffix), p.apply("bias_ih" + suffix));
        return LstmOps.recurrence(gx, p.apply("weight_hh" + suffix), p.apply("bias_hh" + suffix), batch, seq, reverse);
    }

    /** The parameter {@code name} (weight_ih_l0, bias_hh_l1_reverse, ...). */
    public Variable parameter(String name) {
        Variable v = localParameters().get(name);
        if (v == null) throw new IllegalArgumentException("LSTM has no parameter '" + name + "'; it has " + localParameters().keySet());
        return v;
    }

    /** From checkpoint tensors by torch's names (weight_ih_l0, ...). */
    public static Lstm of(int inputSize, int hiddenSize, int numLayers, boolean bidirectional, Map<String, Tensor> tensors) {
        Map<String, Variable> p = new LinkedHashMap<>();
        tensors.forEach((k, v) -> p.put(k, Variable.parameter(v)));
        return new Lstm(inputSize, hiddenSize, numLayers, bidirectional, p);
    }

    @Override
    public int inputSize() {
        return inputSize;
    }

    @Override
    public int hiddenSize() {
        return hiddenSize;
    }

    @Override
    public int numLayers() {
        return numLayers;
    }

    @Override
    public boolean bidirectional() {
        return bidirectional;
    }
}
