package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.Variable;
import dev.lora4j.peft.AdapterArithmetic.Combination;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.ejml.simple.SimpleMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adapter arithmetic checked against B·A products computed here from the raw factors, and against an SVD. */
class AdapterArithmeticTest {
    @TempDir
    Path dir;

    /** Two adapters of different ranks and scalings (2 and 1.5), on overlapping layers. */
    static LoraModel twoAdapters(TinyNet n) {
        LoraModel lora = LoraModel.inject(n, "a", LoraConfig.of(4, 8, "fc1,fc2"), 1);
        lora.addAdapter("b", LoraConfig.of(2, 3, "fc1,embed"));
        LoraModelTest.randomiseAdapter(lora, "a", 5);
        LoraModelTest.randomiseAdapter(lora, "b", 6);
        return lora;
    }

    /** c·B·A of one layer's adapter, [rows of B, columns of A], in double. */
    static double[][] product(LoraLayer layer, String adapter, double c) {
        Variable a = null, b = null;
        for (var e : layer.adapterParameters(adapter).entrySet()) {
            if (e.getKey().contains("_A")) a = e.getValue();
            else b = e.getValue();
        }
        int r = a.shape().dim(0), in = a.shape().dim(1), out = b.shape().dim(0);
        double[][] p = new double[out][in];
        for (int o = 0; o < out; o++)
            for (int j = 0; j < r; j++)
                for (int x = 0; x < in; x++) p[o][x] += c * b.data()[o * r + j] * a.data()[j * in + x];
        return p;
    }

    static double[][] plus(double[][] x, double[][] y) {
        double[][] z = new double[x.length][x[0].length];
        for (int i = 0; i < x.length; i++) for (int j = 0; j < x[0].length; j++) z[i][j] = x[i][j] + y[i][j];
        return z;
    }

    static double maxDiff(double[][] x, double[][] y) {
        double m = 0;
        for (int i = 0; i < x.length; i++) for (int j = 0; j < x[0].length; j++) m = Math.max(m, Math.abs(x[i][j] - y[i][j]));
        return m;
    }

    static LoraLayer layer(TinyNet n, String path) {
        return (LoraLayer) n.get(path);
    }

    /** Σ weight_i·scaling_i·B_i·A_i over the adapters present on the layer. */
    static double[][] weightedSum(TinyNet n, String path, double wa, double wb) {
        LoraLayer l = layer(n, path);
        double[][] s = null;
        if (l.adapterNames().contains("a")) s = product(l, "a", wa * 8 / 4.0);
        if (l.adapterNames().contains("b")) {
            double[][] pb = product(l, "b", wb * 3 / 2.0);
            s = s == null ? pb : plus(s, pb);
        }
        return s;
    }

    @Test
    void catIsExactlyTheWeightedSumOfDeltas() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = twoAdapters(n);
        LoraConfig c = AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(0.7, -0.3), "mix", Combination.CAT, null);
        assertEquals(6, c.r());
        assertEquals(6f, c.loraAlpha());
        assertEquals(1f, c.scaling());
        assertEquals(new TargetModules.Names(List.of("fc1", "fc2", "embed")), c.targetModules());
        assertEquals("a", lora.activeAdapter(), "adding the combination does not switch adapters");
        for (String path : List.of("encoder.fc1", "encoder.fc2", "embed")) {
            double[][] want = weightedSum(n, path, 0.7, -0.3);
            double[][] got = product(layer(n, path), "mix", 1);
            assertTrue(maxDiff(want, got) < 1e-5, path + ": " + maxDiff(want, got));
        }
    }

    @Test
    void svdIsTheBestRankKApproximationOfTheWeightedSum() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = twoAdapters(n);
        AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(0.7, 0.4), "k3", Combination.SVD, 3);
        AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(0.7, 0.4), "full", Combination.SVD, 6);
        AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(0.7, 0.4), "dflt", Combination.SVD, null);
        assertEquals(4, lora.configs().get("dflt").r(), "Peft's default svd rank is the largest input rank");
        for (String path : List.of("encoder.fc1", "encoder.fc2", "embed")) {
            double[][] m = weightedSum(n, path, 0.7, 0.4);
            // Eckart–Young: the error of the best rank-k approximation is the energy of the dropped singular values.
            // σ² are the eigenvalues of the Gram matrix: another algorithm than the SVD under test.
            SimpleMatrix sm = new SimpleMatrix(m);
            SimpleMatrix gram = sm.numRows() <= sm.numCols() ? sm.mult(sm.transpose()) : sm.transpose().mult(sm);
            var eig = gram.eig();
            double[] sq = new double[eig.getNumberOfEigenvalues()];
            for (int i = 0; i < sq.length; i++) sq[i] = Math.max(0, eig.getEigenvalue(i).getReal());
            java.util.Arrays.sort(sq);
            double tail = 0;
            for (int i = 0; i < sq.length - 3; i++) tail += sq[i];
            double[][] p = product(layer(n, path), "k3", 1);
            double err = 0;
            for (int i = 0; i < m.length; i++) for (int j = 0; j < m[0].length; j++) err += (m[i][j] - p[i][j]) * (m[i][j] - p[i][j]);
            assertEquals(tail, err, 1e-4 * (1 + tail), path);
            // At a rank no smaller than the sum's rank nothing is dropped.
            assertTrue(maxDiff(m, product(layer(n, path), "full", 1)) < 1e-4, path);
        }
    }

    @Test
    void linearFollowsPeftSquareRootWeightsWithTheSignOnA() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, "a", LoraConfig.of(3, 6, "fc1"), 1);
        lora.addAdapter("b", LoraConfig.of(3, 12, "fc1"));
        LoraModelTest.randomiseAdapter(lora, "a", 5);
        LoraModelTest.randomiseAdapter(lora, "b", 6);
        AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(0.5, -0.25), "mix", Combination.LINEAR, null);
        LoraLayer l = layer(n, "encoder.fc1");
        // c_a = 0.5·2 = 1, c_b = -0.25·4 = -1: A = A_a − A_b, B = B_a + B_b, so B·A = (B_a + B_b)(A_a − A_b).
        Map<String, Variable> pa = l.adapterParameters("a"), pb = l.adapterParameters("b"), pm = l.adapterParameters("mix");
        float[] aa = pa.get("lora_A.weight").data(), ab = pb.get("lora_A.weight").data(), am = pm.get("lora_A.weight").data();
        float[] ba = pa.get("lora_B.weight").data(), bb = pb.get("lora_B.weight").data(), bm = pm.get("lora_B.weight").data();
        for (int i = 0; i < am.length; i++) assertEquals(aa[i] - ab[i], am[i], 1e-6);
        for (int i = 0; i < bm.length; i++) assertEquals(ba[i] + bb[i], bm[i], 1e-6);

        // One adapter: linear is that adapter's delta times the weight.
        AdapterArithmetic.addWeightedAdapter(lora, List.of("b"), List.of(-0.6), "neg", Combination.SVD, null);
        assertTrue(maxDiff(product(l, "b", -0.6 * 4), product(l, "neg", 1)) < 1e-5);
    }

    @Test
    void savedCombinationReloadsAndMergesToTheSameOutputs() throws IOException {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = twoAdapters(n);
        AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(1.0, 1.0), "mix", Combination.SVD, 5);
        lora.setActiveAdapter("mix");
        float[] expected = LoraModelTest.forward(n);
        PeftAdapterWriter.save(lora, "mix", dir, "CAUSAL_LM", "tiny");

        TinyNet fresh = LoraModelTest.net();
        LoraModel loaded = PeftAdapterReader.load(fresh, dir, "default", 99);
        assertEquals(5, loaded.configs().get("default").r());
        LoraModelTest.assertClose(expected, LoraModelTest.forward(fresh), 1e-6);
        loaded.mergeAndUnload();
        LoraModelTest.assertClose(expected, LoraModelTest.forward(fresh), 1e-5);
    }

    @Test
    void badRequestsAreClearErrors() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = twoAdapters(n);
        var e = assertThrows(IllegalArgumentException.class,
            () -> AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(1.0, 1.0), "x", Combination.LINEAR, null));
        assertTrue(e.getMessage().contains("one rank"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "zz"), List.of(1.0, 1.0), "x", Combination.CAT, null));
        assertTrue(e.getMessage().contains("zz"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> AdapterArithmetic.addWeightedAdapter(lora, List.of("a", "b"), List.of(1.0), "x", Combination.CAT, null));
        assertTrue(e.getMessage().contains("weights"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Combination.parse("ties"));
        assertFalse(lora.configs().containsKey("x"), "a refused combination adds nothing");
    }
}
