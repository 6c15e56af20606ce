package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;

import java.util.List;

/**
 * Gradient-norm clipping with the semantics of {@code torch.nn.utils.clip_grad_norm_} (L2 norm): all gradients
 * together are treated as one vector and scaled by {@code min(1, maxNorm / (norm + 1e-6))}.
 */
public final class GradientClipping {
    private GradientClipping() {
    }

    /** The L2 norm over every gradient present (parameters without one count as zero), accumulated in double. */
    public static double globalNorm(List<Variable> params) {
        double sum = 0;
        for (Variable p : params) {
            float[] g = p.grad();
            if (g == null) continue;
            // Per-parameter sums in double: float would lose the small gradients against millions of others.
            double s = 0;
            for (float x : g) s += (double) x * x;
            sum += s;
        }
        return Math.sqrt(sum);
    }

    /**
     * Scales the gradients so their global norm is at most {@code maxNorm}, and returns the norm before clipping.
     * With {@code maxNorm <= 0} nothing is scaled. A non-finite norm is returned with the gradients untouched:
     * scaling would only turn them all into NaN or zero, and the caller is better placed to skip the step.
     */
    public static double clipGlobalNorm(List<Variable> params, double maxNorm) {
        double norm = globalNorm(params);
        if (maxNorm <= 0 || !Double.isFinite(norm)) return norm;
        double coef = maxNorm / (norm + 1e-6);
        if (coef >= 1.0) return norm;
        float scale = (float) coef;
        for (Variable p : params) {
            float[] g = p.grad();
            if (g == null) continue;
            for (int j = 0; j < g.length; j++) g[j] *= scale;
        }
        return norm;
    }
}
