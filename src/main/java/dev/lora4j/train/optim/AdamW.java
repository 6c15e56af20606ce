package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Adam with decoupled weight decay, with the semantics of {@code torch.optim.AdamW} (non-amsgrad): per step t
 * of a parameter, {@code p *= 1 - lr*wd}; {@code m = lerp(m, g, 1-beta1)}; {@code v = beta2*v + (1-beta2)*g²};
 * {@code p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)}. Element arithmetic is float, like torch
 * on float32 tensors; the scalar coefficients are computed in double.
 *
 * <p>Like torch, each parameter has its own step count t, advanced only on steps where it had a gradient, so a
 * parameter that skips steps keeps a correct bias correction. The moments m and v are allocated at a
 * parameter's first update, so frozen parameters cost no optimizer memory. State keys: {@code exp_avg.<i>},
 * {@code exp_avg_sq.<i>} and {@code step.<i>} (one float, as torch stores it; exact up to 2^24 steps, and
 * beyond that the bias corrections are 1 to within rounding anyway).
 */
public final class AdamW implements Optimizer {
    static final String EXP_AVG = "exp_avg";
    static final String EXP_AVG_SQ = "exp_avg_sq";
    static final String STEP = "step";
    private static final Set<String> KEYS = Set.of(EXP_AVG, EXP_AVG_SQ, STEP);

    private final ParamTable table;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private double lr;
    private long stepCount;
    private final float[][] expAvg;
    private final float[][] expAvgSq;
    private final long[] steps;

    /** One group of parameters sharing a weight decay. */
    public AdamW(List<Variable> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        this(ParamTable.single(params, weightDecay), lr, beta1, beta2, eps);
    }

    /** torch's defaults: betas (0.9, 0.999), eps 1e-8. */
    public AdamW(List<Variable> params, double lr, double weightDecay) {
        this(params, lr, 0.9, 0.999, 1e-8, weightDecay);
    }

    /** Several groups, each with its own learning-rate multiplier and weight decay. */
    public AdamW(List<ParamGroup> groups, double lr, double beta1, double beta2, double eps) {
        ParamTable.checkLearningRate(lr);
        if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
        if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
        if (!(eps >= 0) || Double.isInfinite(eps)) throw new IllegalArgumentException("eps must be finite and >= 0, got " + eps);
        this.table = new ParamTable(groups);
        this.lr = lr;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        int n = table.size();
        this.expAvg = new float[n][];
        this.expAvgSq = new float[n][];
        this.steps = new long[n];
    }

    /** Several groups with torch's default betas and eps. */
    public AdamW(List<ParamGroup> groups, double lr) {
        this(groups, lr, 0.9, 0.999, 1e-8);
    }

    @Override
    public void step() {
        List<Variable> params = table.params();
        for (int i = 0; i < params.size(); i++) {
            Variable p = params.get(i);
            float[] g = p.grad();
            if (!p.requiresGrad() || g == null) continue;
            if (expAvg[i] == null) {
                expAvg[i] = new float[g.length];
                expAvgSq[i] = new float[g.length];
            }
            long t = ++steps[i];
            update(p.data(), g, expAvg[i], expAvgSq[i], t, lr * table.lrScale(i), table.weightDecay(i));
        }
        stepCount++;
    }

    private void update(float[] p, float[] g, float[] m, float[] v, long t, double lr, double weightDecay) {
        float decay = (float) (1.0 - lr * weightDecay);
        float w1 = (float) (1.0 - beta1);
        float b2 = (float) beta2;
        float w2 = (float) (1.0 - beta2);
        float stepSize = (float) (lr / (1.0 - Math.pow(beta1, t)));
        float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(beta2, t));
        float e = (float) eps;
        int n = p.length;
        for (int j = 0; j < n; j++) {
            float gj = g[j];
            // torch computes beta1*m + (1-beta1)*g as lerp(m, g, 1-beta1); the same form rounds the same way.
            float mj = m[j] + w1 * (gj - m[j]);
            float vj = v[j] * b2 + w2 * gj * gj;
            m[j] = mj;
            v[j] = vj;
            float denom = (float) Math.sqrt(vj) / bc2Sqrt + e;
            p[j] = p[j] * decay - stepSize * (mj / denom);
        }
    }

    @Override
    public double learningRate() {
        return lr;
    }

    @Override
    public void setLearningRate(double lr) {
        ParamTable.checkLearningRate(lr);
        this.lr = lr;
    }

    @Override
    public List<Variable> parameters() {
        return table.params();
    }

    @Override
    public long stepCount() {
        return stepCount;
    }

    @Override
    public void setStepCount(long steps) {
        if (steps < 0) throw new IllegalArgumentException("step count must be >= 0, got " + steps);
        this.stepCount = steps;
    }

    public double beta1() {
        return beta1;
    }

    public double beta2() {
        return beta2;
    }

    public double eps() {
        return eps;
    }

    /** Per-parameter step count (the t of its bias correction); 0 for a parameter never updated. */
    public long parameterStep(int index) {
        return steps[index];
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < table.size(); i++) {
            if (expAvg[i] == null) continue;
            out.put(EXP_AVG + "." + i, expAvg[i].clone());
            out.put(EXP_AVG_SQ + "." + i, expAvgSq[i].clone());
            out.put(STEP + "." + i, new float[] {steps[i]});
        }
        return out;
    }

    @Override
    public void loadState(Map<String, float[]> state) {
        int n = table.size();
        boolean[] present = new boolean[n];
        for (String key : state.keySet()) present[table.parseKey(key, KEYS).index()] = true;
        float[][] m = new float[n][];
        float[][] v = new float[n][];
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
            if (!present[i]) continue;
            // The three entries of a parameter come as a set: moments without their step would get a wrong bias correction.
            int size = table.params().get(i).size();
            m[i] = ParamTable.checked(state, EXP_AVG + "." + i, size).clone();
            v[i] = ParamTable.checked(state, EXP_AVG_SQ + "." + i, size).clone();
            float s = ParamTable.checked(state, STEP + "." + i, 1)[0];
            if (!(s >= 0) || Float.isInfinite(s) || s != Math.rint(s)) {
                throw new IllegalArgumentException("optimizer state '" + STEP + "." + i + "' must be a whole number >= 0, got " + s);
            }
            t[i] = (long) s;
        }
        System.arraycopy(m, 0, expAvg, 0, n);
        System.arraycopy(v, 0, expAvgSq, 0, n);
        System.arraycopy(t, 0, steps, 0, n);
    }
}
