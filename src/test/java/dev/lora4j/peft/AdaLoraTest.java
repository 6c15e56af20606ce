package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.train.optim.AdamW;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AdaLoRA against Peft's definitions (tuners/adalora): the SVD-form forward, the cubic budget schedule, importance
 * and pruning to the budget, the orthogonality regulariser's gradient, and the file Peft's save_pretrained writes.
 */
class AdaLoraTest {
    static final int[] TARGETS = {1, 0, 6, 3, 3, 2, 5, 4};

    @TempDir
    Path dir;

    /** init_r 6, target_r 2 on fc1 and fc2; 15 steps: 2 warm-up, 10 budgeting, 3 final. */
    static AdaLoraConfig config() {
        return new AdaLoraConfig(LoraConfig.of(8, 12, "fc1,fc2"), 2, 6, 2, 3, 2, 0.85, 0.85, 0.5, 15);
    }

    static void randomise(LoraModel lora, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) rnd.nextGaussian() * 0.3f;
            }
        }
    }

    @Test
    void budgetFollowsPeftsCubicSchedule() {
        TinyNet n = LoraModelTest.net();
        AdaLora ada = new AdaLora(AdaLora.inject(n, "default", config(), 1), "default", config());
        assertEquals(12, ada.initialBudget(), "6 triplets in each of 2 layers");
        assertEquals(4, ada.targetBudget());
        // By hand from budget_schedule with init 12, target 4, tinit 2, tfinal 3, T 15, deltaT 2:
        assertEquals(new AdaLora.Budget(12, false), ada.budgetAt(0));
        assertEquals(new AdaLora.Budget(12, false), ada.budgetAt(2));
        // t=3: 1 − 1/10 = 0.9, 8·0.729 + 4 = 9.832 → 9; 3 is odd: no allocation.
        assertEquals(new AdaLora.Budget(9, false), ada.budgetAt(3));
        // t=7: 0.5³·8 + 4 = 5; t=8: 0.4³·8 + 4 = 4.512 → 4, even: allocate.
        assertEquals(new AdaLora.Budget(5, false), ada.budgetAt(7));
        assertEquals(new AdaLora.Budget(4, true), ada.budgetAt(8));
        assertEquals(new AdaLora.Budget(4, true), ada.budgetAt(12));
        assertEquals(new AdaLora.Budget(4, true), ada.budgetAt(13));
        int last = Integer.MAX_VALUE;
        for (int t = 0; t <= 15; t++) {
            assertTrue(ada.budgetAt(t).budget() <= last, "the budget never grows");
            last = ada.budgetAt(t).budget();
        }
    }

    @Test
    void forwardIsTheSvdFormAndMergesExactly() {
        TinyNet n = LoraModelTest.net();
        float[] base = LoraModelTest.forward(n);
        LoraModel lora = AdaLora.inject(n, "default", config(), 1);
        assertArrayEquals(base, LoraModelTest.forward(n), "E = 0 at the start: exactly the base model");
        randomise(lora, 3);
        AdaLoraLinear fc2 = (AdaLoraLinear) n.get("encoder.fc2");
        Map<String, Variable> p = fc2.adapterParameters("default");
        assertArrayEquals(new int[] {6, 20}, p.get("lora_A").shape().dims());
        assertArrayEquals(new int[] {12, 6}, p.get("lora_B").shape().dims());
        assertArrayEquals(new int[] {6, 1}, p.get("lora_E").shape().dims());
        // y = base(x) + x·(A∘E)ᵀ·Bᵀ·alpha/(init_r + 1e-5), by hand on one input row.
        Linear w = (Linear) fc2.baseLayer();
        float[] x = new float[20];
        for (int i = 0; i < 20; i++) x[i] = (float) Math.sin(i + 1);
        float[] want = new float[12];
        double s = 12 / (6 + 1e-5);
        for (int o = 0; o < 12; o++) {
            double acc = w.bias().data()[o];
            for (int i = 0; i < 20; i++) acc += w.weight().data()[o * 20 + i] * x[i];
            for (int j = 0; j < 6; j++) {
                double ax = 0;
                for (int i = 0; i < 20; i++) ax += p.get("lora_A").data()[j * 20 + i] * p.get("lora_E").data()[j] * x[i];
                acc += s * p.get("lora_B").data()[o * 6 + j] * ax;
            }
            want[o] = (float) acc;
        }
        float[] got;
        try (var sc = Tape.noGrad()) {
            got = fc2.forward(Variable.constant(Tensor.of(x, 1, 20))).data();
        }
        LoraModelTest.assertClose(want, got, 1e-5);
        float[] unmerged = LoraModelTest.forward(n);
        lora.merge();
        LoraModelTest.assertClose(unmerged, LoraModelTest.forward(n), 1e-5);
    }

    @Test
    void gradientsIncludingTheOrthogonalRegulariserMatchFiniteDifferences() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = AdaLora.inject(n, "default", config(), 1);
        randomise(lora, 4);
        AdaLora ada = new AdaLora(lora, "default", config());
        GradCheck check = GradCheck.of("AdaLoRA loss + orth reg",
            () -> ada.withRegulariser(Ops.crossEntropy(n.forward(LoraModelTest.IDS), TARGETS, -100))).step(1e-3);
        n.train(false);
        // One layer's A, E and B cover every path (the regulariser reaches A and B, the loss all three).
        ((LoraLayer) n.get("encoder.fc2")).adapterParameters("default").forEach(check::wrt);
        check.run();
    }

    @Test
    void importanceIsSmoothedSensitivityTimesUncertainty() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = AdaLora.inject(n, "default", config(), 1);
        randomise(lora, 5);
        AdaLora ada = new AdaLora(lora, "default", config());
        Tape.current().backward(Ops.crossEntropy(n.forward(LoraModelTest.IDS), TARGETS, -100));
        ada.updateAndAllocate(0);
        // After one update from zero: Ī = (1−β1)·I and Ū = (1−β2)·|I − Ī| = (1−β2)·β1·I, so Ī·Ū = c·I² with I = |p·g|.
        double c = 0.15 * 0.15 * 0.85;
        Map<String, Variable> p = lora.loraLayers().get(0).adapterParameters("default");
        Variable a = p.get("lora_A"), b = p.get("lora_B"), e = p.get("lora_E");
        float[] t = ada.tripletScores().get("encoder.fc1");
        for (int j = 0; j < 6; j++) {
            double sa = 0, sb = 0, se = sq(e.data()[j] * e.grad()[j]) * c;
            for (int i = 0; i < 12; i++) sa += sq(a.data()[j * 12 + i] * a.grad()[j * 12 + i]) * c;
            for (int o = 0; o < 20; o++) sb += sq(b.data()[o * 6 + j] * b.grad()[o * 6 + j]) * c;
            double want = se + sa / 12 + sb / 20;
            assertEquals(want, t[j], 1e-5 * want + 1e-12, "triplet " + j);
        }
        lora.trainableVariables().forEach(Variable::zeroGrad);
    }

    static double sq(double x) {
        return x * x;
    }

    /** Trains 15 steps on the tiny net, allocating after each; returns the allocator. */
    static AdaLora train(TinyNet n, LoraModel lora, List<Integer> keptAtAllocation) {
        AdaLora ada = new AdaLora(lora, "default", config());
        AdamW opt = new AdamW(lora.trainableVariables(), 1e-2, 0.0);
        for (int step = 0; step < 15; step++) {
            Tape.current().backward(ada.withRegulariser(Ops.crossEntropy(n.forward(LoraModelTest.IDS), TARGETS, -100)));
            opt.step();
            ada.updateAndAllocate(step);
            if (ada.budgetAt(step).mask() && step < 12) {
                int kept = ada.ranks().values().stream().mapToInt(Integer::intValue).sum();
                keptAtAllocation.add(kept);
                assertEquals(ada.budgetAt(step).budget(), kept, "step " + step + " keeps exactly its budget");
            }
            opt.zeroGrad();
        }
        return ada;
    }

    @Test
    void pruningKeepsTheBudgetAndMasksSingularValues() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = AdaLora.inject(n, "default", config(), 1);
        List<Integer> kept = new java.util.ArrayList<>();
        AdaLora ada = train(n, lora, kept);
        // Allocations at the even steps 4, 6, 8, 10 of the budgeting phase: 8.096 → 8, 5.728 → 5, 4.512 → 4, 4.064 → 4.
        assertEquals(List.of(8, 5, 4, 4), kept);
        assertEquals(4, ada.ranks().values().stream().mapToInt(Integer::intValue).sum());
        ada.rankPattern().forEach((path, keep) -> {
            float[] e = lora.model().get(path) instanceof AdaLoraLinear l ? l.adapterParameters("default").get("lora_E").data() : null;
            for (int i = 0; i < keep.length; i++) if (!keep[i]) assertEquals(0f, e[i], "pruned singular value " + path + "[" + i + "] is zero");
        });
    }

    @Test
    void savesAsPeftAndReloadsToTheSameOutputs() throws Exception {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = AdaLora.inject(n, "default", config(), 1);
        AdaLora ada = train(n, lora, new java.util.ArrayList<>());
        n.train(false);
        float[] expected = LoraModelTest.forward(n);
        PeftAdapterWriter.saveAdaLora(lora, "default", config(), ada.rankPattern(), dir, "CAUSAL_LM", "tiny");

        JsonNode c = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("ADALORA", c.path("peft_type").asText());
        assertEquals(6, c.path("init_r").asInt());
        assertEquals(2, c.path("target_r").asInt());
        assertEquals(15, c.path("total_step").asInt());
        assertEquals(0.5, c.path("orth_reg_weight").asDouble());
        assertEquals(new TreeSet<>(List.of("encoder.fc1.lora_E", "encoder.fc2.lora_E")), names(c.path("rank_pattern")));
        Map<String, Integer> ranks = ada.ranks();
        // Peft's resize_state_dict_by_rank_pattern: only kept triplets; keys without ".weight"; no ranknum.
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(new TreeSet<>(List.of("base_model.model.encoder.fc1.lora_A", "base_model.model.encoder.fc1.lora_B",
                "base_model.model.encoder.fc1.lora_E", "base_model.model.encoder.fc2.lora_A", "base_model.model.encoder.fc2.lora_B",
                "base_model.model.encoder.fc2.lora_E")), new TreeSet<>(f.names()));
            int k1 = ranks.get("encoder.fc1"), k2 = ranks.get("encoder.fc2");
            assertArrayEquals(new long[] {k1, 12}, f.info("base_model.model.encoder.fc1.lora_A").shape());
            assertArrayEquals(new long[] {20, k1}, f.info("base_model.model.encoder.fc1.lora_B").shape());
            assertArrayEquals(new long[] {k1, 1}, f.info("base_model.model.encoder.fc1.lora_E").shape());
            assertArrayEquals(new long[] {k2, 20}, f.info("base_model.model.encoder.fc2.lora_A").shape());
            assertArrayEquals(new long[] {12, k2}, f.info("base_model.model.encoder.fc2.lora_B").shape());
        }
        int kept = 0;
        for (JsonNode b : c.path("rank_pattern").path("encoder.fc1.lora_E")) kept += b.asBoolean() ? 1 : 0;
        assertEquals(ranks.get("encoder.fc1"), kept);

        TinyNet fresh = LoraModelTest.net();
        PeftAdapterReader.load(fresh, dir, "default", 77);
        fresh.train(false);
        LoraModelTest.assertClose(expected, LoraModelTest.forward(fresh), 1e-6);
        var summary = dev.lora4j.inspect.AdapterSummary.read(dir);
        assertEquals(ranks.get("encoder.fc1"), summary.modules().get(0).rank());
        assertEquals("adalora", summary.modules().get(0).kind());
    }

    static TreeSet<String> names(JsonNode o) {
        TreeSet<String> s = new TreeSet<>();
        o.fieldNames().forEachRemaining(s::add);
        return s;
    }

    @Test
    void arithmeticAndRankSchedulesRefuseAdaLora() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = AdaLora.inject(n, "default", config(), 1);
        var e = assertThrows(IllegalArgumentException.class, () -> AdapterArithmetic.addWeightedAdapter(lora, List.of("default"),
            List.of(0.5), "half", AdapterArithmetic.Combination.LINEAR, null));
        assertTrue(e.getMessage().contains("AdaLoRA"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RankSchedule.parse("2@0,4@3").start(lora, "default"));
        assertThrows(IllegalArgumentException.class, () -> lora.addAdapter("plain", LoraConfig.of(2, 4, "fc1")),
            "LoRA and AdaLoRA do not mix on one layer");
    }
}
