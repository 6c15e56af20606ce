package dev.lora4j.train.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class LrScheduleTest {
    private static final int WARMUP = 10;
    private static final long TOTAL = 110;
    private static final long[] STEPS = {0, 1, 5, WARMUP - 1, WARMUP, 35, 60, 85, TOTAL - 1, TOTAL};

    // transformers.optimization, transcribed:
    private static double hfConstant(long s, int w) {
        if (s < w) return (double) s / Math.max(1.0, w);
        return 1.0;
    }

    private static double hfLinear(long s, int w, long t) {
        if (s < w) return (double) s / Math.max(1, w);
        return Math.max(0.0, (double) (t - s) / Math.max(1, t - w));
    }

    private static double hfCosineMinLr(long s, int w, long t, double minLrRate) {
        if (s < w) return (double) s / Math.max(1, w);
        double progress = (double) (s - w) / Math.max(1, t - w);
        double f = 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress));
        f = f * (1 - minLrRate) + minLrRate;
        return Math.max(0, f);
    }

    @Test
    void matchesTransformersFormulasAtBoundaries() {
        LrSchedule c = LrSchedule.constant(WARMUP), l = LrSchedule.linear(WARMUP, TOTAL);
        LrSchedule cos = LrSchedule.cosine(WARMUP, TOTAL, 0), cosMin = LrSchedule.cosine(WARMUP, TOTAL, 0.1);
        for (long s : STEPS) {
            assertEquals(hfConstant(s, WARMUP), c.factor(s), 1e-15, "constant @" + s);
            assertEquals(hfLinear(s, WARMUP, TOTAL), l.factor(s), 1e-15, "linear @" + s);
            assertEquals(hfCosineMinLr(s, WARMUP, TOTAL, 0), cos.factor(s), 1e-15, "cosine @" + s);
            assertEquals(hfCosineMinLr(s, WARMUP, TOTAL, 0.1), cosMin.factor(s), 1e-15, "cosine min @" + s);
        }
    }

    @Test
    void knownValues() {
        LrSchedule l = LrSchedule.linear(WARMUP, TOTAL);
        assertEquals(0.0, l.factor(0));
        assertEquals(0.5, l.factor(5));
        assertEquals(1.0, l.factor(WARMUP));
        assertEquals(0.5, l.factor(60), 1e-15);
        assertEquals(0.0, l.factor(TOTAL));
        assertEquals(0.0, l.factor(TOTAL + 50));

        LrSchedule cos = LrSchedule.cosine(WARMUP, TOTAL, 0);
        assertEquals(1.0, cos.factor(WARMUP), 1e-15);
        assertEquals(0.5, cos.factor(60), 1e-15);
        assertEquals(0.0, cos.factor(TOTAL), 1e-15);
        LrSchedule cosMin = LrSchedule.cosine(WARMUP, TOTAL, 0.1);
        assertEquals(0.55, cosMin.factor(60), 1e-15);
        assertEquals(0.1, cosMin.factor(TOTAL), 1e-15);
        assertEquals(0.1, cosMin.factor(TOTAL + 50), 1e-15, "stays at the bottom past the planned end");

        assertEquals(1.0, LrSchedule.constant(0).factor(0));
        assertEquals(1.0, LrSchedule.linear(0, 100).factor(0), "no warmup starts at full rate");
    }

    @Test
    void parseByName() {
        assertInstanceOf(LrSchedule.Constant.class, LrSchedule.parse("constant", 3, 10));
        assertEquals(LrSchedule.linear(3, 10), LrSchedule.parse(" Linear ", 3, 10));
        assertEquals(LrSchedule.cosine(3, 10, 0), LrSchedule.parse("cosine", 3, 10));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.parse("step", 0, 10));
        assertTrue(e.getMessage().contains("step") && e.getMessage().contains("constant, linear, cosine"), e.getMessage());
    }

    @Test
    void warmupAsCountOrFraction() {
        assertEquals(100, LrSchedule.warmupSteps(0.1, 1000));
        assertEquals(2, LrSchedule.warmupSteps(0.05, 30), "fractions round up, as transformers' warmup_ratio");
        assertEquals(20, LrSchedule.warmupSteps(20, 1000));
        assertEquals(1, LrSchedule.warmupSteps(1, 1000));
        assertEquals(0, LrSchedule.warmupSteps(0, 1000));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupSteps(-1, 1000));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupSteps(2.5, 1000));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupSteps(Double.NaN, 1000));
    }

    @Test
    void rejectsNegativeStep() {
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.linear(1, 10).factor(-1));
    }
}
