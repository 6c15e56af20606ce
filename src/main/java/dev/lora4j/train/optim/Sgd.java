package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Stochastic gradient descent with the semantics of {@code torch.optim.SGD} (dampening 0): weight decay is L2,
 * added to the gradient ({@code d = g + wd*p}); with momentum, {@code buf = d} on a parameter's first step and
 * {@code buf = momentum*buf + d} after; the update is {@code p -= lr*buf}, or {@code p -= lr*(d + momentum*buf)}
 * with Nesterov. The momentum buffer ({@code momentum_buffer.<i>} in the state) is allocated at a parameter's
 * first update and only when momentum is non-zero.
 */
public final class Sgd implements Optimizer {
    static final String MOMENTUM_BUFFER = "momentum_buffer";
    private static final Set<String> KEYS = Set.of(MOMENTUM_BUFFER);

    private final ParamTable table;
    private final double momentum;
    private final boolean nesterov;
    private double lr;
    private long stepCount;
    private final float[][] buffers;

    /** One group sharing a weight decay. */
    public Sgd(List<Variable> params, double lr, double momentum, double weightDecay, boolean nesterov) {
        this(ParamTable.single(params, weightDecay), lr, momentum, nesterov);
    }

    /** Plain SGD: no momentum, no weight decay. */
    public Sgd(List<Variable> params, double lr) {
        this(params, lr, 0, 0, false);
    }

    /** Several groups, each with its own learning-rate multiplier and weight decay. */
    public Sgd(List<ParamGroup> groups, double lr, double momentum, boolean nesterov) {
        ParamTable.checkLearningRate(lr);
        if (!(momentum >= 0) || Double.isInfinite(momentum)) throw new IllegalArgumentException("momentum must be finite and >= 0, got " + momentum);
        if (nesterov && momentum == 0) throw new IllegalArgumentException("Nesterov momentum requires momentum > 0");
        this.table = new ParamTable(groups);
        this.lr = lr;
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.buffers = new float[table.size()][];
    }

    @Override
    public void step() {
        List<Variable> params = table.params();
        for (int i = 0; i < params.size(); i++) {
            Variable p = params.get(i);
            float[] g = p.grad();
            if (!p.requiresGrad() || g == null) continue;
            double lrI = lr * table.lrScale(i);
            double wd = table.weightDecay(i);
            if (momentum == 0) {
                plain(p.data(), g, (float) lrI, (float) wd);
            } else {
                boolean first = buffers[i] == null;
                if (first) buffers[i] = new float[g.length];
                withMomentum(p.data(), g, buffers[i], first, (float) lrI, (float) wd);
            }
        }
        stepCount++;
    }

    private static void plain(float[] p, float[] g, float lr, float wd) {
        // Decay only when asked: 0*p would turn an infinite weight into NaN where torch leaves it alone.
        if (wd == 0) {
            for (int j = 0; j < p.length; j++) p[j] -= lr * g[j];
        } else {
            for (int j = 0; j < p.length; j++) p[j] -= lr * (g[j] + wd * p[j]);
        }
    }

    private void withMomentum(float[] p, float[] g, float[] buf, boolean first, float lr, float wd) {
        float mu = (float) momentum;
        for (int j = 0; j < p.length; j++) {
            float d = wd == 0 ? g[j] : g[j] + wd * p[j];
            float b = first ? d : mu * buf[j] + d;
            buf[j] = b;
            p[j] -= lr * (nesterov ? d + mu * b : b);
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

    public double momentum() {
        return momentum;
    }

    public boolean nesterov() {
        return nesterov;
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < buffers.length; i++) {
            if (buffers[i] != null) out.put(MOMENTUM_BUFFER + "." + i, buffers[i].clone());
        }
        return out;
    }

    @Override
    public void loadState(Map<String, float[]> state) {
        float[][] loaded = new float[buffers.length][];
        for (String key : state.keySet()) {
            int i = table.parseKey(key, KEYS).index();
            loaded[i] = ParamTable.checked(state, key, table.params().get(i).size()).clone();
        }
        System.arraycopy(loaded, 0, buffers, 0, buffers.length);
    }
}
