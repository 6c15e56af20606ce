package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The groups flattened into one indexed list, shared by the optimizers: state keys name a parameter by its
 * index here, so a checkpoint stays valid as long as the parameters are listed in the same order.
 */
final class ParamTable {
    private final List<Variable> params;
    private final double[] lrScale;
    private final double[] weightDecay;

    ParamTable(List<ParamGroup> groups) {
        List<Variable> flat = new ArrayList<>();
        List<Double> scales = new ArrayList<>();
        List<Double> decays = new ArrayList<>();
        // Identity, not equals: two distinct parameters may hold equal values. A parameter listed twice would be
        // updated twice per step, which torch also rejects.
        Set<Variable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (ParamGroup g : groups) {
            for (Variable v : g.params()) {
                if (!seen.add(v)) throw new IllegalArgumentException("parameter listed twice: " + v);
                flat.add(v);
                scales.add(g.lrScale());
                decays.add(g.weightDecay());
            }
        }
        this.params = List.copyOf(flat);
        this.lrScale = scales.stream().mapToDouble(Double::doubleValue).toArray();
        this.weightDecay = decays.stream().mapToDouble(Double::doubleValue).toArray();
    }

    static List<ParamGroup> single(List<Variable> params, double weightDecay) {
        return List.of(ParamGroup.of(params, weightDecay));
    }

    List<Variable> params() {
        return params;
    }

    int size() {
        return params.size();
    }

    double lrScale(int i) {
        return lrScale[i];
    }

    double weightDecay(int i) {
        return weightDecay[i];
    }

    /** A state key split into its name and parameter index. */
    record Key(String name, int index) {
    }

    /** Parses "name.i", checking the name is one of {@code names} and i a parameter index. */
    Key parseKey(String key, Set<String> names) {
        int dot = key.lastIndexOf('.');
        String name = dot < 0 ? key : key.substring(0, dot);
        if (dot < 0 || !names.contains(name)) {
            throw new IllegalArgumentException("unknown optimizer state key '" + key + "', expected <name>.<index> with name in " + names);
        }
        int index;
        try {
            index = Integer.parseInt(key.substring(dot + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("optimizer state key '" + key + "' has no parameter index");
        }
        if (index < 0 || index >= params.size()) {
            throw new IllegalArgumentException("optimizer state key '" + key + "' names parameter " + index
                    + " but the optimizer has " + params.size() + " parameters");
        }
        return new Key(name, index);
    }

    /** The array under {@code key}, checked to have {@code expected} elements. */
    static float[] checked(Map<String, float[]> state, String key, int expected) {
        float[] a = state.get(key);
        if (a == null) throw new IllegalArgumentException("optimizer state key '" + key + "' is missing or null");
        if (a.length != expected) {
            throw new IllegalArgumentException("optimizer state '" + key + "' has length " + a.length + ", expected " + expected);
        }
        return a;
    }

    static void checkLearningRate(double lr) {
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
    }
}
