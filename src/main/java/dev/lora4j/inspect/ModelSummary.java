package dev.lora4j.inspect;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model's parameters per layer type, next to what LoRA of rank r on every linear layer but the output layer
 * (Peft's all-linear) would add: the table
 * the LoRA papers print (original vs LoRA parameters per weight type). Layers of one type are those whose paths
 * differ only in their layer index ({@code model.layers.*.self_attn.q_proj}).
 *
 * @param types       one row per layer type, in model order
 * @param parameters  all parameters of the model (a tied weight counted once)
 * @param loraRank    the rank the LoRA column assumes
 */
public record ModelSummary(List<LayerType> types, long parameters, int loraRank) {

    /**
     * One layer type.
     *
     * @param pattern    the modules' path with layer indices as {@code *}
     * @param kind       the module class (Linear, Embedding, LayerNorm, ...)
     * @param count      how many modules share the pattern
     * @param shapes     the shapes of one module's parameters
     * @param parameters parameters of all modules of the type
     * @param loraParameters what LoRA of the summary's rank adds on all of them (0 where LoRA does not apply)
     */
    public record LayerType(String pattern, String kind, int count, String shapes, long parameters, long loraParameters) {}

    /** Sums the parameters of every module that holds some, grouped by type. */
    public static ModelSummary of(Module root, int loraRank) {
        if (loraRank <= 0) throw new IllegalArgumentException("rank must be positive, got " + loraRank);
        Map<String, long[]> sums = new LinkedHashMap<>();  // count, parameters, lora
        Map<String, String> kinds = new LinkedHashMap<>(), shapes = new LinkedHashMap<>();
        Set<Variable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        long total = 0;
        for (Map.Entry<String, Module> e : root.namedModules().entrySet()) {
            Module m = e.getValue();
            if (m.localParameters().isEmpty()) continue;
            String pattern = e.getKey().isEmpty() ? "(root)" : e.getKey().replaceAll("(^|\\.)\\d+(?=\\.|$)", "$1*");
            long n = 0;
            List<String> s = new ArrayList<>();
            for (Variable v : m.localParameters().values()) {
                s.add(Arrays.toString(v.value().shape().dims()));
                if (seen.add(v)) n += v.value().size();
            }
            total += n;
            long lora = m instanceof LinearLayer l && !LoraModel.isOutputLayer(e.getKey())
                ? (long) loraRank * (l.inFeatures() + l.outFeatures()) : 0;
            long[] sum = sums.computeIfAbsent(pattern, k -> new long[3]);
            sum[0]++;
            sum[1] += n;
            sum[2] += lora;
            kinds.putIfAbsent(pattern, m.getClass().getSimpleName());
            shapes.putIfAbsent(pattern, String.join(" ", s));
        }
        List<LayerType> types = new ArrayList<>();
        sums.forEach((p, s) -> types.add(new LayerType(p, kinds.get(p), (int) s[0], shapes.get(p), s[1], s[2])));
        return new ModelSummary(types, total, loraRank);
    }

    /** What LoRA of the summary's rank on every linear layer adds. */
    public long loraParameters() {
        return types.stream().mapToLong(LayerType::loraParameters).sum();
    }
}
