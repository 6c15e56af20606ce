package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * Builds a new adapter from weighted existing ones, as Peft's {@code LoraModel.add_weighted_adapter}: the new
 * adapter has r = lora_alpha = the new rank (so its scaling is 1) and the union of the target modules. With
 * {@code c_i = weight_i · scaling_i} per layer:
 * <ul>
 *   <li>{@code LINEAR} (same rank): A = Σ sign(c_i)·√|c_i|·A_i, B = Σ √|c_i|·B_i, exactly as Peft. B·A then has
 *       cross terms B_i·A_j: it equals Σ c_i·B_i·A_i only for one adapter, or when the adapters share B or A
 *       directions. That is Peft's choice ("linear" interpolates the factors, not the updates) and kept so a
 *       Python user gets the same adapter.</li>
 *   <li>{@code CAT}: A stacks the rows c_i·A_i, B the columns B_i; rank Σ r_i and B·A = Σ c_i·B_i·A_i exactly.</li>
 *   <li>{@code SVD}: the best rank-k approximation (Eckart–Young) of Σ c_i·B_i·A_i, B = U_k·S_k, A = V_kᵀ. Peft
 *       multiplies each already scaled delta by weight·scaling again (scaling squared); lora4j scales each delta
 *       once, so svd at a rank ≥ Σ r_i equals cat, and equals the weighted sum of the deltas.</li>
 * </ul>
 * Unlike Peft, the result has use_rslora off whatever the inputs had: with rsLoRA, r = alpha would not give
 * scaling 1 and the combined update would be off by √r.
 */
public final class AdapterArithmetic {

    /** Peft's combination_type values that lora4j implements. */
    public enum Combination {
        LINEAR, CAT, SVD;

        public static Combination parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("combination '" + s + "': expected linear, cat or svd");
            }
        }
    }

    private AdapterArithmetic() {}

    /**
     * Adds adapter {@code newName} to {@code lora}, combined from {@code adapters} with {@code weights}, and
     * returns its config. The input adapters stay as they were; the active adapter does not change.
     *
     * @param svdRank the rank for {@code SVD} (null: the largest input rank, as Peft); ignored otherwise
     */
    public static LoraConfig addWeightedAdapter(LoraModel lora, List<String> adapters, List<Double> weights, String newName,
                                                Combination combination, Integer svdRank) {
        if (adapters.isEmpty()) throw new IllegalArgumentException("no adapters to combine");
        if (adapters.size() != weights.size()) {
            throw new IllegalArgumentException(adapters.size() + " adapters but " + weights.size() + " weights");
        }
        if (new LinkedHashSet<>(adapters).size() != adapters.size()) throw new IllegalArgumentException("adapters repeat: " + adapters);
        Map<String, LoraConfig> configs = lora.configs();
        if (configs.containsKey(newName)) throw new IllegalArgumentException("adapter '" + newName + "' already exists");
        List<LoraConfig> cs = new ArrayList<>();
        for (String a : adapters) {
            LoraConfig c = configs.get(a);
            if (c == null) throw new IllegalArgumentException("no adapter '" + a + "'; adapters: " + configs.keySet());
            // Their weights live in the base model, shared by all adapters here: there is nothing per adapter to combine.
            if (!c.modulesToSave().isEmpty() || c.bias() != LoraConfig.Bias.NONE) {
                throw new IllegalArgumentException("adapter '" + a + "' trains modules_to_save " + c.modulesToSave() + " or biases ("
                    + c.bias().name().toLowerCase(Locale.ROOT) + "): those are full weights, not low-rank updates, and cannot be combined");
            }
            cs.add(c);
        }
        for (LoraLayer layer : lora.loraLayers()) {
            if (layer instanceof AdaLoraLinear) {
                // As Peft, whose AdaLoraModel.add_weighted_adapter raises: its updates are B·diag(E)·A, not B·A.
                throw new IllegalArgumentException("AdaLoRA adapters cannot be combined (Peft refuses too); merge one at a time");
            }
            if (layer instanceof GloraLinear) {
                throw new IllegalArgumentException("GLoRA adapters cannot be combined: their updates W0⊙A + B are not B·A; merge one at a time");
            }
        }
        // As Peft: one adapter is always a linear combination.
        Combination how = adapters.size() == 1 ? Combination.LINEAR : combination;
        List<Integer> ranks = cs.stream().map(LoraConfig::maxRank).toList();
        int newRank = switch (how) {
            case LINEAR -> {
                if (new LinkedHashSet<>(ranks).size() != 1) {
                    throw new IllegalArgumentException("combination linear needs adapters of one rank, got " + ranks + "; use cat or svd");
                }
                yield ranks.get(0);
            }
            case CAT -> ranks.stream().mapToInt(Integer::intValue).sum();
            case SVD -> {
                if (svdRank != null && svdRank <= 0) throw new IllegalArgumentException("svd rank must be positive, got " + svdRank);
                yield svdRank != null ? svdRank : ranks.stream().mapToInt(Integer::intValue).max().orElseThrow();
            }
        };
        LoraConfig first = cs.get(0);
        LoraConfig config = new LoraConfig(newRank, newRank, first.loraDropout(), unionOfTargets(cs), LoraConfig.Bias.NONE, false,
            List.of(), first.initLoraWeights());
        String active = lora.activeAdapter();
        lora.addAdapter(newName, config);
        lora.setActiveAdapter(active);
        for (LoraLayer layer : lora.loraLayers()) {
            if (!layer.adapterNames().contains(newName)) continue;
            List<Factors> in = new ArrayList<>();
            for (int i = 0; i < adapters.size(); i++) {
                String a = adapters.get(i);
                if (layer.adapterNames().contains(a)) in.add(Factors.of(layer, a, weights.get(i) * layer.scaling(a)));
            }
            Factors target = Factors.of(layer, newName, 1);
            target.zero();
            if (in.isEmpty()) continue;
            switch (how) {
                case LINEAR -> linear(in, target);
                case CAT -> cat(in, target);
                case SVD -> svd(in, target);
            }
        }
        return config;
    }

    /**
     * One layer's A [r, inDim] and B [outDim, r] of one adapter (row-major; for an embedding A is [r, vocab] and
     * B [dim, r], Peft's lora_embedding_A/B, so B·A has the same meaning), with the factor c = weight·scaling.
     */
    private record Factors(float[] a, float[] b, int r, int inDim, int outDim, double c) {
        static Factors of(LoraLayer layer, String adapter, double c) {
            Variable a = null, b = null;
            int pairs = 0;
            for (var e : layer.adapterParameters(adapter).entrySet()) {
                if (e.getKey().contains("_A")) {
                    a = e.getValue();
                    pairs++;
                } else if (e.getKey().contains("_B")) b = e.getValue();
            }
            if (a == null || b == null) throw new IllegalStateException("layer has no A/B for adapter '" + adapter + "'");
            if (pairs > 1) throw new IllegalArgumentException("adapter arithmetic: a layer with several LoRA pairs (LSTM) is not supported yet");
            // A is [r, ...] and B [out, r, ...] (conv kernels flatten into the trailing dimensions).
            int r = a.shape().dim(0);
            return new Factors(a.data(), b.data(), r, a.size() / r, b.size() / r, c);
        }

        void zero() {
            java.util.Arrays.fill(a, 0f);
            java.util.Arrays.fill(b, 0f);
        }

        /** Copies column j of B [outDim, r] times s into column k of {@code t}'s B. */
        void copyBColumn(int j, Factors t, int k, double s) {
            for (int o = 0; o < outDim; o++) t.b[o * t.r + k] = (float) (s * b[o * r + j]);
        }
    }

    private static void linear(List<Factors> in, Factors t) {
        for (Factors f : in) {
            if (f.r != t.r) throw new IllegalArgumentException("combination linear: a layer has rank " + f.r + ", the new adapter " + t.r);
            double root = Math.sqrt(Math.abs(f.c));
            // The sign goes on A only, otherwise it would cancel in B·A.
            double sa = Math.signum(f.c) * root;
            for (int i = 0; i < t.a.length; i++) t.a[i] += (float) (sa * f.a[i]);
            for (int i = 0; i < t.b.length; i++) t.b[i] += (float) (root * f.b[i]);
        }
    }

    private static void cat(List<Factors> in, Factors t) {
        int row = 0;
        for (Factors f : in) {
            for (int j = 0; j < f.r; j++, row++) {
                for (int x = 0; x < f.inDim; x++) t.a[row * t.inDim + x] = (float) (f.c * f.a[j * f.inDim + x]);
                f.copyBColumn(j, t, row, 1);
            }
        }
    }

    private static void svd(List<Factors> in, Factors t) {
        int m = t.outDim, n = t.inDim;
        DMatrixRMaj delta = new DMatrixRMaj(m, n);
        double[] d = delta.data;
        for (Factors f : in) {
            for (int o = 0; o < m; o++) {
                for (int j = 0; j < f.r; j++) {
                    double bj = f.c * f.b[o * f.r + j];
                    if (bj == 0) continue;
                    int ao = j * n, dO = o * n;
                    for (int x = 0; x < n; x++) d[dO + x] += bj * f.a[ao + x];
                }
            }
        }
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(m, n, true, true, true);
        if (!svd.decompose(delta)) throw new IllegalStateException("SVD of a " + m + "x" + n + " delta did not converge");
        double[] s = svd.getSingularValues();
        DMatrixRMaj u = svd.getU(null, false), vt = svd.getV(null, true);
        Integer[] order = new Integer[s.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        // EJML does not promise descending order; Eckart–Young needs the largest k.
        java.util.Arrays.sort(order, (x, y) -> Double.compare(s[y], s[x]));
        int k = Math.min(t.r, s.length);
        for (int j = 0; j < k; j++) {
            int src = order[j];
            for (int o = 0; o < m; o++) t.b[o * t.r + j] = (float) (u.get(o, src) * s[src]);
            for (int x = 0; x < n; x++) t.a[j * n + x] = (float) vt.get(src, x);
        }
    }

    /** Peft's rule: lists are united, regexes or-ed; a mix of the two forms is refused. */
    private static TargetModules unionOfTargets(List<LoraConfig> cs) {
        Set<Class<?>> kinds = new LinkedHashSet<>();
        cs.forEach(c -> kinds.add(c.targetModules().getClass()));
        if (kinds.size() > 1) {
            throw new IllegalArgumentException("adapters name their target_modules in different forms (list, regex, all-linear): "
                + cs.stream().map(c -> c.targetModules().toString()).toList() + "; Peft refuses to combine those too");
        }
        return switch (cs.get(0).targetModules()) {
            case TargetModules.Names n -> {
                Set<String> all = new LinkedHashSet<>();
                cs.forEach(c -> all.addAll(((TargetModules.Names) c.targetModules()).names()));
                yield new TargetModules.Names(List.copyOf(all));
            }
            case TargetModules.Regex r -> {
                Set<String> all = new LinkedHashSet<>();
                cs.forEach(c -> all.add(((TargetModules.Regex) c.targetModules()).regex()));
                yield all.size() == 1 ? r : new TargetModules.Regex(String.join("|", all.stream().map(x -> "(" + x + ")").toList()));
            }
            case TargetModules.AllLinear a -> a;
        };
    }
}
