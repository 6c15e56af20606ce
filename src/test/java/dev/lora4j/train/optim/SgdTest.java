package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.lora4j.train.optim.OptimTestSupport.param;
import static dev.lora4j.train.optim.OptimTestSupport.setGrad;
import static org.junit.jupiter.api.Assertions.*;

class SgdTest {
    private static final float[] GRADS = {0.5f, -0.3f, 0.2f};

    private static float[] run(Sgd opt, Variable p) {
        float[] after = new float[GRADS.length];
        for (int s = 0; s < GRADS.length; s++) {
            setGrad(p, new float[] {GRADS[s]});
            opt.step();
            after[s] = p.data()[0];
        }
        return after;
    }

    @Test
    void momentumWithWeightDecayMatchesHandComputedValues() {
        // lr 0.1, momentum 0.9, wd 0.1, p0 = 1:
        // d1 = 0.5 + 0.1*1 = 0.6,           buf = 0.6,                     p = 1 - 0.06 = 0.94
        // d2 = -0.3 + 0.094 = -0.206,       buf = 0.54 - 0.206 = 0.334,    p = 0.94 - 0.0334 = 0.9066
        // d3 = 0.2 + 0.09066 = 0.29066,     buf = 0.3006 + 0.29066 = 0.59126, p = 0.9066 - 0.059126 = 0.847474
        Variable p = param(1f);
        float[] after = run(new Sgd(List.of(p), 0.1, 0.9, 0.1, false), p);
        assertArrayEquals(new float[] {0.94f, 0.9066f, 0.847474f}, after, 1e-6f);
    }

    @Test
    void nesterovMatchesHandComputedValues() {
        // as above, but p -= lr * (d + 0.9*buf):
        // step 1: 0.6 + 0.54 = 1.14                                   -> p = 0.886
        // step 2: d = -0.2114, buf = 0.3286, d + 0.9 buf = 0.08434     -> p = 0.877566
        // step 3: d = 0.2877566, buf = 0.5834966, d + 0.9 buf = 0.81290354 -> p = 0.796275646
        Variable p = param(1f);
        float[] after = run(new Sgd(List.of(p), 0.1, 0.9, 0.1, true), p);
        assertArrayEquals(new float[] {0.886f, 0.877566f, 0.796275646f}, after, 1e-6f);
    }

    @Test
    void plainSgdAndGroupScale() {
        Variable a = param(1f), b = param(1f);
        Sgd opt = new Sgd(List.of(ParamGroup.of(List.of(a), 0), new ParamGroup(List.of(b), 2, 0)), 0.1, 0, false);
        setGrad(a, new float[] {0.5f});
        setGrad(b, new float[] {0.5f});
        opt.step();
        assertEquals(0.95f, a.data()[0], 1e-7f);
        assertEquals(0.9f, b.data()[0], 1e-7f);
        assertTrue(opt.state().isEmpty(), "no momentum, no state");
    }

    @Test
    void skipsParametersWithoutGradient() {
        Variable a = param(1f), b = param(2f);
        Sgd opt = new Sgd(List.of(a, b), 0.1, 0.9, 0.1, false);
        setGrad(a, new float[] {1f});
        opt.step();
        assertEquals(2f, b.data()[0]);
        assertTrue(opt.state().containsKey("momentum_buffer.0"));
        assertFalse(opt.state().containsKey("momentum_buffer.1"));
    }

    @Test
    void stateRoundTripResumesBitIdentically() {
        Variable a = param(1f, -2f), b = param(1f, -2f), fresh = param(1f, -2f);
        Sgd optA = new Sgd(List.of(a), 0.05, 0.9, 0.01, true);
        for (int s = 0; s < 3; s++) {
            setGrad(a, new float[] {GRADS[s], -GRADS[s]});
            optA.step();
        }
        System.arraycopy(a.data(), 0, b.data(), 0, 2);
        System.arraycopy(a.data(), 0, fresh.data(), 0, 2);
        Sgd optB = new Sgd(List.of(b), 0.05, 0.9, 0.01, true);
        Sgd optFresh = new Sgd(List.of(fresh), 0.05, 0.9, 0.01, true);
        optB.loadState(optA.state());
        for (int s = 0; s < 2; s++) {
            for (Variable v : List.of(a, b, fresh)) setGrad(v, new float[] {0.1f * s + 0.2f, 0.3f});
            optA.step();
            optB.step();
            optFresh.step();
        }
        assertArrayEquals(a.data(), b.data());
        assertFalse(java.util.Arrays.equals(a.data(), fresh.data()));
    }

    @Test
    void loadStateValidatesLength() {
        Sgd opt = new Sgd(List.of(param(1f, 2f)), 0.1, 0.9, 0, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> opt.loadState(java.util.Map.of("momentum_buffer.0", new float[5])));
        assertTrue(e.getMessage().contains("momentum_buffer.0") && e.getMessage().contains("5") && e.getMessage().contains("2"), e.getMessage());
    }

    @Test
    void nesterovNeedsMomentum() {
        assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(param(1f)), 0.1, 0, 0, true));
    }
}
