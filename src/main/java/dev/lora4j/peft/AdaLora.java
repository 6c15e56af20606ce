package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdaLoRA's training side (Peft's RankAllocator and AdaLoraModel.update_and_allocate / forward): importance
 * scores, the cubic budget schedule, pruning of singular values to the budget, and the orthogonality
 * regulariser. Call {@link #withRegulariser} on each micro-batch's loss and {@link #updateAndAllocate} after
 * each optimizer step, before gradients are zeroed, with the 0-based index of that step (Peft's global_step).
 *
 * <p>Importance, per entry of A, E and B: I = |p·∇p|, smoothed Ī ← β1·Ī + (1−β1)·I and its uncertainty
 * Ū ← β2·Ū + (1−β2)·|I − Ī|; the score of entry is Ī·Ū. A triplet i (row i of A, E_i, column i of B) scores
 * E's score plus the mean score of A's row and of B's column. The triplets scoring at or below the
 * (init budget − budget)-th smallest score over all layers get E_i = 0 (masked, not removed: E_i still
 * trains, so a triplet can come back at the next allocation).
 */
public final class AdaLora {
    private final AdaLoraConfig config;
    private final String adapter;
    private final Map<String, AdaLoraLinear> layers = new LinkedHashMap<>();
    private final Map<Variable, Importance> importance = new LinkedHashMap<>();
    private final int initBudget;
    private final int targetBudget;
    private Map<String, boolean[]> rankPattern;

    /** One parameter's sensitivity EMA and uncertainty EMA (Peft's exp_avg_ipt, exp_avg_unc). */
    private record Importance(float[] avg, float[] unc) {}

    /** The budget in force at a step, and whether that step re-allocates. */
    public record Budget(int budget, boolean mask) {}

    public AdaLora(LoraModel lora, String adapter, AdaLoraConfig config) {
        this.config = config;
        this.adapter = adapter;
        lora.model().namedModules().forEach((path, m) -> {
            if (m instanceof AdaLoraLinear l && l.adapterNames().contains(adapter)) layers.put(path, l);
        });
        if (layers.isEmpty()) throw new IllegalArgumentException("no AdaLoRA layer carries adapter '" + adapter + "'");
        int init = 0;
        for (AdaLoraLinear l : layers.values()) init += l.adapterParameters(adapter).get("lora_A").shape().dim(0);
        this.initBudget = init;
        this.targetBudget = config.targetR() * layers.size();
    }

    /** Injects AdaLoRA adapter {@code name} at init_r into {@code root} and returns the LoRA model. */
    public static LoraModel inject(dev.lora4j.nn.Module root, String name, AdaLoraConfig config, long seed) {
        return LoraModel.injectAdaLora(root, name, config.lora(), seed);
    }

    public AdaLoraConfig config() {
        return config;
    }

    /** Σ init_r over the layers (Peft's init_bgt). */
    public int initialBudget() {
        return initBudget;
    }

    /** target_r × layers (target_bgt). */
    public int targetBudget() {
        return targetBudget;
    }

    /**
     * Peft's budget_schedule: the full budget up to tinit, target after total_step − tfinal, in between
     * target + (init − target)·(1 − (t − tinit)/(T − tfinal − tinit))³, re-allocating every deltaT steps.
     */
    public Budget budgetAt(long step) {
        long tinit = config.tinit(), tfinal = config.tfinal(), total = config.totalStep();
        if (step <= tinit) return new Budget(initBudget, false);
        if (step > total - tfinal) return new Budget(targetBudget, true);
        double mul = 1 - (double) (step - tinit) / (total - tfinal - tinit);
        int budget = (int) ((initBudget - targetBudget) * (mul * mul * mul) + targetBudget);
        return new Budget(budget, step % config.deltaT() == 0);
    }

    /**
     * loss + orth_reg_weight · mean over A and B of the layers of ||P·Pᵀ − I||_F (A's rows, B's columns),
     * as Peft's AdaLoraModel.forward adds to the loss.
     */
    public Variable withRegulariser(Variable loss) {
        if (config.orthRegWeight() == 0) return loss;
        Variable sum = null;
        int n = 0;
        for (AdaLoraLinear l : layers.values()) {
            Map<String, Variable> p = l.adapterParameters(adapter);
            for (String key : List.of("lora_A", "lora_B")) {
                Variable v = p.get(key);
                if (v.size() == 0) continue;
                Variable d = Ops.gramDeviation(v, key.equals("lora_A"));
                sum = sum == null ? d : Ops.add(sum, d);
                n++;
            }
        }
        return sum == null ? loss : Ops.addScaled(loss, sum, (float) (config.orthRegWeight() / n));
    }

    /** Peft's update_and_allocate for the step just taken ({@code globalStep}, 0-based); needs the gradients still there. */
    public void updateAndAllocate(long globalStep) {
        long end = config.totalStep() - config.tfinal();
        if (globalStep < end) {
            updateImportance();
            Budget b = budgetAt(globalStep);
            if (b.mask()) rankPattern = maskToBudget(b.budget());
        } else if (globalStep == end) {
            rankPattern = maskToBudget(budgetAt(globalStep).budget());
            importance.clear();
        } else if (rankPattern != null) {
            maskByPattern();
        }
    }

    private void updateImportance() {
        float b1 = (float) config.beta1(), b2 = (float) config.beta2();
        for (AdaLoraLinear l : layers.values()) {
            for (Variable p : l.adapterParameters(adapter).values()) {
                float[] g = p.grad();
                if (g == null) continue;
                Importance imp = importance.computeIfAbsent(p, v -> new Importance(new float[v.size()], new float[v.size()]));
                float[] d = p.data();
                for (int i = 0; i < d.length; i++) {
                    float ipt = Math.abs(d[i] * g[i]);
                    imp.avg[i] = b1 * imp.avg[i] + (1 - b1) * ipt;
                    imp.unc[i] = b2 * imp.unc[i] + (1 - b2) * Math.abs(ipt - imp.avg[i]);
                }
            }
        }
    }

    /** Ī·Ū per entry; zeros for a parameter never scored. */
    private float[] score(Variable p) {
        Importance imp = importance.get(p);
        float[] s = new float[p.size()];
        if (imp == null) return s;
        for (int i = 0; i < s.length; i++) s[i] = imp.avg[i] * imp.unc[i];
        return s;
    }

    /** Each layer's triplet scores: E's score + mean of A's row + mean of B's column. */
    public Map<String, float[]> tripletScores() {
        Map<String, float[]> out = new LinkedHashMap<>();
        layers.forEach((path, l) -> {
            Map<String, Variable> p = l.adapterParameters(adapter);
            Variable a = p.get("lora_A"), b = p.get("lora_B"), e = p.get("lora_E");
            int r = e.size(), in = a.shape().dim(1), outDim = b.shape().dim(0);
            float[] sa = score(a), sb = score(b), se = score(e), t = new float[r];
            for (int i = 0; i < r; i++) {
                float ma = 0, mb = 0;
                for (int c = 0; c < in; c++) ma += sa[i * in + c];
                for (int o = 0; o < outDim; o++) mb += sb[o * r + i];
                t[i] = se[i] + (ma / in + mb / outDim);
            }
            out.put(path, t);
        });
        return out;
    }

    private Map<String, boolean[]> maskToBudget(int budget) {
        Map<String, float[]> scores = tripletScores();
        int k = initBudget - budget;
        float threshold = Float.NEGATIVE_INFINITY;
        if (k > 0) {
            float[] all = new float[initBudget];
            int at = 0;
            for (float[] s : scores.values()) for (float x : s) all[at++] = x;
            Arrays.sort(all, 0, at);
            threshold = all[Math.min(k, at) - 1];
        }
        Map<String, boolean[]> pattern = new LinkedHashMap<>();
        for (var e : scores.entrySet()) {
            float[] s = e.getValue();
            boolean[] keep = new boolean[s.length];
            float[] ev = layers.get(e.getKey()).adapterParameters(adapter).get("lora_E").data();
            for (int i = 0; i < s.length; i++) {
                keep[i] = !(s[i] <= threshold);
                if (!keep[i]) ev[i] = 0f;
            }
            pattern.put(e.getKey(), keep);
        }
        return pattern;
    }

    private void maskByPattern() {
        rankPattern.forEach((path, keep) -> {
            float[] ev = layers.get(path).adapterParameters(adapter).get("lora_E").data();
            for (int i = 0; i < keep.length; i++) if (!keep[i]) ev[i] = 0f;
        });
    }

    /** The last allocation per layer path (true = triplet kept), or null before the first one. */
    public Map<String, boolean[]> rankPattern() {
        if (rankPattern == null) return null;
        Map<String, boolean[]> copy = new LinkedHashMap<>();
        rankPattern.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    /** Kept triplets per layer path under the last allocation (init_r everywhere before the first). */
    public Map<String, Integer> ranks() {
        Map<String, Integer> out = new LinkedHashMap<>();
        layers.forEach((path, l) -> {
            boolean[] keep = rankPattern == null ? null : rankPattern.get(path);
            int r = l.adapterParameters(adapter).get("lora_E").size();
            if (keep != null) {
                r = 0;
                for (boolean x : keep) if (x) r++;
            }
            out.put(path, r);
        });
        return out;
    }

    /** The layer paths, in model order. */
    public List<String> layerPaths() {
        return new ArrayList<>(layers.keySet());
    }
}
