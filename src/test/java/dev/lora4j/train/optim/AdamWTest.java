package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.lora4j.train.optim.OptimTestSupport.param;
import static dev.lora4j.train.optim.OptimTestSupport.setGrad;
import static org.junit.jupiter.api.Assertions.*;

class AdamWTest {

    /** The gradient of parameter {@code i} at step {@code s}, or null on the steps where it gets none. */
    private static float[] grad(int i, int s, int n) {
        if (i == 2 && (s == 1 || s == 3)) return null;
        float[] g = new float[n];
        for (int j = 0; j < n; j++) g[j] = (float) (Math.sin(1.3 * s + 0.7 * j + i) * Math.pow(10, (j % 3) - 1));
        return g;
    }

    /** torch.optim.AdamW, written from its documented algorithm in double, with a step count per parameter. */
    private static final class Reference {
        final double[][] p, m, v;
        final long[] t;

        Reference(float[][] init) {
            int n = init.length;
            p = new double[n][];
            m = new double[n][];
            v = new double[n][];
            t = new long[n];
            for (int i = 0; i < n; i++) {
                p[i] = new double[init[i].length];
                for (int j = 0; j < init[i].length; j++) p[i][j] = init[i][j];
                m[i] = new double[init[i].length];
                v[i] = new double[init[i].length];
            }
        }

        void step(int i, float[] g, double lr, double b1, double b2, double eps, double wd) {
            if (g == null) return;
            long step = ++t[i];
            for (int j = 0; j < g.length; j++) {
                p[i][j] *= 1 - lr * wd;
                m[i][j] = b1 * m[i][j] + (1 - b1) * g[j];
                v[i][j] = b2 * v[i][j] + (1 - b2) * g[j] * g[j];
                double mHat = m[i][j] / (1 - Math.pow(b1, step));
                double vHat = v[i][j] / (1 - Math.pow(b2, step));
                p[i][j] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
        }
    }

    @Test
    void matchesTorchFormulasOverFiveStepsWithGroupsDecayAndSkippedGradients() {
        float[][] init = {{0.5f, -1.25f, 2f, 0.1f}, {1f, -0.5f, 0.25f}, {-0.75f, 1.5f}};
        Variable p0 = param(init[0]), p1 = param(init[1]), p2 = param(init[2]);
        Variable frozen = Variable.constant(Tensor.of(new float[] {3f, 4f}, 2));
        double lr = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-6;
        double[] scale = {1, 4, 1};
        double[] wd = {0.1, 0, 0.05};
        AdamW opt = new AdamW(List.of(
                new ParamGroup(List.of(p0), scale[0], wd[0]),
                new ParamGroup(List.of(p1, frozen), scale[1], wd[1]),
                new ParamGroup(List.of(p2), scale[2], wd[2])), lr, b1, b2, eps);
        Variable[] ps = {p0, p1, p2};
        Reference ref = new Reference(init);

        for (int s = 0; s < 5; s++) {
            for (int i = 0; i < 3; i++) {
                float[] g = grad(i, s, init[i].length);
                setGrad(ps[i], g);
                ref.step(i, g, lr * scale[i], b1, b2, eps, wd[i]);
            }
            opt.step();
        }

        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < init[i].length; j++) {
                assertEquals(ref.p[i][j], ps[i].data()[j], 2e-6, "param " + i + "[" + j + "]");
            }
        }
        assertEquals(5, opt.stepCount());
        assertEquals(5, opt.parameterStep(0));
        // Flattened order is p0, p1, frozen, p2.
        assertEquals(List.of(p0, p1, frozen, p2), opt.parameters());
        assertEquals(3, opt.parameterStep(3), "a parameter's own step count advances only when it had a gradient");
        assertArrayEquals(new float[] {3f, 4f}, frozen.data());
        assertFalse(opt.state().containsKey("exp_avg.2"), "a frozen parameter gets no state");
        assertTrue(opt.state().containsKey("exp_avg.3"));
    }

    @Test
    void firstStepWithoutDecayMovesEachParameterByLearningRateTimesSignOfGradient() {
        double lr = 1e-3;
        Variable p = param(0f, 0f, 0f, 0f, 1f);
        float[] g = {1e-3f, 5f, -2f, -1e-2f, 0.3f};
        setGrad(p, g);
        new AdamW(List.of(p), lr, 0.0).step();
        for (int j = 0; j < g.length; j++) {
            float before = j == 4 ? 1f : 0f;
            assertEquals(-lr * Math.signum(g[j]), p.data()[j] - before, lr * 1e-4, "element " + j);
        }
    }

    @Test
    void decoupledWeightDecayShrinksParameterBeforeAdamUpdate() {
        // With a zero gradient the Adam term is 0 and only the decay acts: p *= 1 - lr*wd, which an L2 penalty
        // folded into the gradient (plain Adam) would not produce.
        Variable p = param(2f, -4f);
        setGrad(p, new float[] {0f, 0f});
        new AdamW(List.of(p), 0.1, 0.5).step();
        assertArrayEquals(new float[] {2f * 0.95f, -4f * 0.95f}, p.data(), 1e-6f);
    }

    @Test
    void stateRoundTripResumesBitIdentically() {
        float[][] init = {{0.5f, -1.25f, 2f, 0.1f}, {1f, -0.5f, 0.25f}, {-0.75f, 1.5f}};
        Variable[] a = {param(init[0]), param(init[1]), param(init[2])};
        AdamW optA = new AdamW(List.of(
                new ParamGroup(List.of(a[0], a[1]), 1, 0.1),
                new ParamGroup(List.of(a[2]), 2, 0)), 0.01, 0.9, 0.999, 1e-8);
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < 3; i++) setGrad(a[i], grad(i, s, init[i].length));
            optA.step();
        }

        Variable[] b = new Variable[3];
        Variable[] fresh = new Variable[3];
        for (int i = 0; i < 3; i++) {
            b[i] = param(a[i].data());
            fresh[i] = param(a[i].data());
        }
        AdamW optB = new AdamW(List.of(
                new ParamGroup(List.of(b[0], b[1]), 1, 0.1),
                new ParamGroup(List.of(b[2]), 2, 0)), 0.01, 0.9, 0.999, 1e-8);
        AdamW optFresh = new AdamW(List.of(
                new ParamGroup(List.of(fresh[0], fresh[1]), 1, 0.1),
                new ParamGroup(List.of(fresh[2]), 2, 0)), 0.01, 0.9, 0.999, 1e-8);
        optB.loadState(optA.state());
        optB.setStepCount(optA.stepCount());

        for (int s = 3; s < 5; s++) {
            for (int i = 0; i < 3; i++) {
                float[] g = grad(i, s, init[i].length);
                setGrad(a[i], g);
                setGrad(b[i], g);
                setGrad(fresh[i], g);
            }
            optA.step();
            optB.step();
            optFresh.step();
        }
        for (int i = 0; i < 3; i++) assertArrayEquals(a[i].data(), b[i].data(), "param " + i);
        assertEquals(optA.stepCount(), optB.stepCount());
        assertEquals(optA.parameterStep(2), optB.parameterStep(2));
        // Without the loaded state the same two steps end elsewhere, so the comparison above can fail.
        assertFalse(java.util.Arrays.equals(a[0].data(), fresh[0].data()));
    }

    @Test
    void stateIsACopy() {
        Variable p = param(1f, 2f);
        AdamW opt = new AdamW(List.of(p), 0.1, 0);
        setGrad(p, new float[] {1f, 1f});
        opt.step();
        Map<String, float[]> st = opt.state();
        assertEquals(3, st.size());
        assertArrayEquals(new float[] {1f}, st.get("step.0"));
        st.get("exp_avg.0")[0] = 99f;
        assertNotEquals(99f, opt.state().get("exp_avg.0")[0]);
    }

    @Test
    void loadStateRejectsBadEntriesAndChangesNothing() {
        Variable p0 = param(1f, 2f, 3f), p1 = param(1f);
        AdamW opt = new AdamW(List.of(p0, p1), 0.1, 0);
        setGrad(p0, new float[] {1f, 1f, 1f});
        opt.step();
        Map<String, float[]> good = opt.state();

        Map<String, float[]> shortOne = new HashMap<>(good);
        shortOne.put("exp_avg_sq.0", new float[2]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> opt.loadState(shortOne));
        assertTrue(e.getMessage().contains("exp_avg_sq.0") && e.getMessage().contains("2") && e.getMessage().contains("3"), e.getMessage());

        Map<String, float[]> unknown = new HashMap<>(good);
        unknown.put("momentum_buffer.0", new float[3]);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.loadState(unknown)).getMessage().contains("momentum_buffer.0"));

        Map<String, float[]> outOfRange = Map.of("exp_avg.7", new float[1]);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.loadState(outOfRange)).getMessage().contains("exp_avg.7"));

        Map<String, float[]> missingStep = new HashMap<>(good);
        missingStep.remove("step.0");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.loadState(missingStep)).getMessage().contains("step.0"));

        assertEquals(good.keySet(), opt.state().keySet());
        assertArrayEquals(good.get("exp_avg.0"), opt.state().get("exp_avg.0"));
    }

    @Test
    void zeroGradZeroesEveryGradient() {
        Variable p0 = param(1f, 2f), p1 = param(3f);
        setGrad(p0, new float[] {1f, -2f});
        setGrad(p1, new float[] {5f});
        AdamW opt = new AdamW(List.of(p0, p1), 0.1, 0);
        opt.zeroGrad();
        assertArrayEquals(new float[] {0f, 0f}, p0.grad());
        assertArrayEquals(new float[] {0f}, p1.grad());
    }

    @Test
    void rejectsAParameterListedTwice() {
        Variable p = param(1f);
        assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(
                ParamGroup.of(List.of(p), 0), ParamGroup.of(List.of(p), 0.1)), 0.1));
    }
}
