package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The arithmetic-only vector exp: accuracy against Math.exp in double, and its special values. */
class VectorExpTest {
    static final int L = FloatVector.SPECIES_PREFERRED.length();

    static float[] exp(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += L) {
            var m = FloatVector.SPECIES_PREFERRED.indexInRange(i, x.length);
            VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, i, m)).intoArray(y, i, m);
        }
        return y;
    }

    @Test
    void withinThreeUlpOverTheNormalRange() {
        int n = 200_001;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -87f + 175.5f * i / (n - 1);
        float[] y = exp(x);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = Math.exp(x[i]);
            worst = Math.max(worst, Math.abs(y[i] - ref) / Math.ulp((float) ref));
        }
        assertTrue(worst <= 3, "worst error " + worst + " ulp");
    }

    @Test
    void specialValues() {
        float[] y = exp(new float[] {Float.NEGATIVE_INFINITY, -1000f, -90f, 0f, 1f, 89f, Float.POSITIVE_INFINITY, Float.NaN});
        assertEquals(0f, y[0], "exp(-inf) is exactly 0: masked attention scores rely on it");
        assertEquals(0f, y[1]);
        assertEquals(0f, y[2], "below the normal range flushes to 0");
        assertEquals(1f, y[3]);
        assertEquals((float) Math.E, y[4], Math.ulp((float) Math.E));
        assertEquals(Float.POSITIVE_INFINITY, y[5]);
        assertEquals(Float.POSITIVE_INFINITY, y[6]);
        assertTrue(Float.isNaN(y[7]));
    }
}
