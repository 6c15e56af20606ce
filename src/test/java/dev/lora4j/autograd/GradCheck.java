package dev.lora4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import dev.lora4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Finite-difference gradient check. Runs the loss once with recording on and backpropagates it to get the
 * analytic gradients of the listed variables, then, for every element of every listed variable, re-runs the
 * forward inside {@link Tape#noGrad()} at x+h and x−h and compares (L(x+h) − L(x−h)) / 2h with the analytic
 * value: |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|). A failure names the variable, the worst
 * element's index, both values, and how many elements failed.
 *
 * <p>The loss supplier must rebuild the whole graph from the listed variables on every call (it is called
 * 1 + 2·(elements) times) and must return a scalar.
 *
 * <p>Public so that tests of other packages (LoRA layers, models) can check their own gradients.
 */
public final class GradCheck {
    private final String label;
    private final Supplier<Variable> loss;
    private final Map<String, Variable> vars = new LinkedHashMap<>();
    private double h = 1e-2;
    private double rtol = 1e-2;
    private double atol = 1e-3;
    private boolean requireNonTrivial = true;

    private GradCheck(String label, Supplier<Variable> loss) {
        this.label = label;
        this.loss = loss;
    }

    public static GradCheck of(String label, Supplier<Variable> loss) {
        return new GradCheck(label, loss);
    }

    /** Adds a variable whose gradient is checked. */
    public GradCheck wrt(String name, Variable v) {
        if (!v.requiresGrad()) throw new IllegalArgumentException(name + " must require a gradient to be checked");
        vars.put(name, v);
        return this;
    }

    public GradCheck step(double h) {
        this.h = h;
        return this;
    }

    public GradCheck tolerance(double rtol, double atol) {
        this.rtol = rtol;
        this.atol = atol;
        return this;
    }

    /** Allows a variable whose numeric gradient is (near) zero everywhere; by default that fails as a vacuous check. */
    public GradCheck allowZeroGradient() {
        this.requireNonTrivial = false;
        return this;
    }

    /** Runs the check (failing the test on a mismatch) and returns the analytic gradients by name. */
    public Map<String, float[]> run() {
        Tape tape = Tape.current();
        tape.clear();
        for (Variable v : vars.values()) v.clearGrad();

        Variable l = loss.get();
        assertEquals(1, l.size(), label + ": loss must be a scalar");
        tape.backward(l);
        assertEquals(0, tape.size(), label + ": tape must be empty after backward");

        Map<String, float[]> analytic = new LinkedHashMap<>();
        for (var e : vars.entrySet()) {
            float[] g = e.getValue().grad();
            assertNotNull(g, label + ": no gradient arrived at " + e.getKey() + " " + e.getValue().shape());
            analytic.put(e.getKey(), g.clone());
        }

        List<String> failures = new ArrayList<>();
        for (var e : vars.entrySet()) {
            String name = e.getKey();
            float[] x = e.getValue().data();
            float[] a = analytic.get(name);
            double worst = -1, worstA = 0, worstN = 0, maxNumeric = 0;
            int worstIndex = -1, failed = 0;
            for (int i = 0; i < x.length; i++) {
                double n = numeric(x, i);
                maxNumeric = Math.max(maxNumeric, Math.abs(n));
                double err = Math.abs(a[i] - n);
                double ratio = err / (atol + rtol * Math.max(Math.abs(a[i]), Math.abs(n)));
                if (ratio > 1) failed++;
                if (ratio > worst) {
                    worst = ratio;
                    worstIndex = i;
                    worstA = a[i];
                    worstN = n;
                }
            }
            if (Boolean.getBoolean("gradcheck.verbose")) {
                System.out.printf("%s d/d%s: worst %.3f x tolerance at %d (analytic %.6g, numeric %.6g), max |numeric| %.3g%n",
                    label, name, worst, worstIndex, worstA, worstN, maxNumeric);
            }
            if (failed > 0) {
                failures.add(String.format("%s: d/d%s%s mismatch at %d of %d elements; worst index %d: analytic %.6g, numeric %.6g (error %.3g x tolerance)",
                    label, name, e.getValue().shape(), failed, x.length, worstIndex, worstA, worstN, worst));
            }
            if (requireNonTrivial && maxNumeric < 10 * atol) {
                failures.add(label + ": the loss barely depends on " + name + " (max |numeric gradient| " + maxNumeric
                    + "), so the check would be vacuous");
            }
        }
        tape.clear();
        if (!failures.isEmpty()) fail(String.join("\n", failures));
        return analytic;
    }

    /** Central difference of the loss in element i of x, with the perturbation actually applied in float. */
    private double numeric(float[] x, int i) {
        float x0 = x[i];
        float xp = (float) (x0 + h), xm = (float) (x0 - h);
        double lp, lm;
        try (var _ = Tape.noGrad()) {
            x[i] = xp;
            lp = evaluate();
            x[i] = xm;
            lm = evaluate();
        } finally {
            x[i] = x0;
        }
        return (lp - lm) / ((double) xp - (double) xm);
    }

    private double evaluate() {
        Variable l = loss.get();
        if (l.requiresGrad()) throw new AssertionError(label + ": an output requires a gradient inside noGrad()");
        return l.data()[0];
    }

    // ---- helpers for building inputs -----------------------------------------------------------------

    public static float[] randn(Random rnd, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * std);
        return a;
    }

    public static Variable param(Random rnd, double std, int... dims) {
        Tensor t = Tensor.zeros(dims);
        float[] d = randn(rnd, t.size(), std);
        System.arraycopy(d, 0, t.data(), 0, d.length);
        return Variable.parameter(t);
    }
}
