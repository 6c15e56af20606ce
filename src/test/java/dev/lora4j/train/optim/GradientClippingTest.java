package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.lora4j.train.optim.OptimTestSupport.param;
import static dev.lora4j.train.optim.OptimTestSupport.setGrad;
import static org.junit.jupiter.api.Assertions.*;

class GradientClippingTest {

    /** Gradients [3, 4], [12] and none: global norm sqrt(9 + 16 + 144) = 13. */
    private static List<Variable> params() {
        Variable a = param(0f, 0f), b = param(0f), c = param(0f, 0f, 0f);
        setGrad(a, new float[] {3f, 4f});
        setGrad(b, new float[] {12f});
        return List.of(a, b, c);
    }

    @Test
    void normSpansAllParameters() {
        assertEquals(13.0, GradientClipping.globalNorm(params()), 1e-12);
    }

    @Test
    void scalesAboveTheThreshold() {
        List<Variable> ps = params();
        double norm = GradientClipping.clipGlobalNorm(ps, 6.5);
        assertEquals(13.0, norm, 1e-12, "returns the norm before clipping");
        double coef = 6.5 / (13.0 + 1e-6);
        assertArrayEquals(new float[] {(float) (3 * coef), (float) (4 * coef)}, ps.get(0).grad(), 1e-6f);
        assertArrayEquals(new float[] {(float) (12 * coef)}, ps.get(1).grad(), 1e-6f);
        assertNull(ps.get(2).grad());
        assertEquals(6.5, GradientClipping.globalNorm(ps), 1e-5);
    }

    @Test
    void leavesGradientsUnderTheThresholdAlone() {
        List<Variable> ps = params();
        assertEquals(13.0, GradientClipping.clipGlobalNorm(ps, 20), 1e-12);
        assertArrayEquals(new float[] {3f, 4f}, ps.get(0).grad());
        assertArrayEquals(new float[] {12f}, ps.get(1).grad());
    }

    @Test
    void nonPositiveMaxNormOnlyMeasures() {
        List<Variable> ps = params();
        assertEquals(13.0, GradientClipping.clipGlobalNorm(ps, 0), 1e-12);
        assertArrayEquals(new float[] {3f, 4f}, ps.get(0).grad());
    }

    @Test
    void nonFiniteNormIsReturnedWithoutScaling() {
        List<Variable> ps = params();
        setGrad(ps.get(2), new float[] {Float.NaN, 1f, 1f});
        assertTrue(Double.isNaN(GradientClipping.clipGlobalNorm(ps, 1.0)));
        assertArrayEquals(new float[] {3f, 4f}, ps.get(0).grad());
    }
}
