package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.train.Trainer;
import dev.lora4j.train.TrainingOptions;
import dev.lora4j.train.optim.AdamW;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Gradual rank increase: inactive directions stay exactly zero, growth does not move the output, the optimizer carries on. */
class RankScheduleTest {
    static final int[] TARGETS = {1, 0, 6, 3, 3, 2, 5, 4};

    @Test
    void parsesAndSteps() {
        RankSchedule s = RankSchedule.parse("2@0, 4@10,8@25");
        assertEquals(List.of(new RankSchedule.Stage(2, 0), new RankSchedule.Stage(4, 10), new RankSchedule.Stage(8, 25)), s.stages());
        assertEquals(2, s.rankAt(9));
        assertEquals(4, s.rankAt(10));
        assertEquals(8, s.rankAt(1000));
        assertEquals(3, RankSchedule.parse("3").rankAt(5));
        assertThrows(IllegalArgumentException.class, () -> RankSchedule.parse("2@5"));
        assertThrows(IllegalArgumentException.class, () -> RankSchedule.parse("4@0,2@10"));
        assertThrows(IllegalArgumentException.class, () -> RankSchedule.parse("2@0,x"));
    }

    static float loss(TinyNet n) {
        Variable l = Ops.crossEntropy(n.forward(LoraModelTest.IDS), TARGETS, -100);
        Tape.current().backward(l);
        return l.data()[0];
    }

    static boolean directionIsZero(LoraLayer layer, int j) {
        Map<String, Variable> p = layer.adapterParameters("default");
        Variable a = p.get(p.containsKey("lora_A.weight") ? "lora_A.weight" : "lora_embedding_A");
        Variable b = p.get(p.containsKey("lora_B.weight") ? "lora_B.weight" : "lora_embedding_B");
        int r = a.shape().dim(0), in = a.shape().dim(1), out = b.shape().dim(0);
        for (int x = 0; x < in; x++) if (a.data()[j * in + x] != 0) return false;
        for (int o = 0; o < out; o++) if (b.data()[o * r + j] != 0) return false;
        return true;
    }

    @Test
    void growthKeepsOutputsAndExtendsOptimizerStateWithZeros() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2,embed"), 1);
        Map<String, float[]> init = new java.util.HashMap<>();
        lora.adapterStateDict("default").forEach((k, t) -> init.put(k, t.data().clone()));
        RankSchedule.Run run = RankSchedule.parse("2@0,4@3").start(lora, "default");
        run.start(0);
        assertEquals(2, run.rank());
        List<Variable> params = lora.trainableVariables();
        AdamW opt = new AdamW(params, 1e-2, 0.0);
        for (int step = 1; step <= 3; step++) {
            loss(n);
            for (LoraLayer l : lora.loraLayers()) {
                for (Variable v : l.adapterParameters("default").values()) {
                    for (float g : v.grad()) assertFalse(Float.isNaN(g));
                }
            }
            opt.step();
            opt.zeroGrad();
            if (step < 3) run.atStep(step);
        }
        for (LoraLayer l : lora.loraLayers()) {
            assertFalse(directionIsZero(l, 0) && directionIsZero(l, 1), "active directions train");
            assertTrue(directionIsZero(l, 2) && directionIsZero(l, 3), "inactive directions stay exactly zero");
        }
        Map<String, float[]> stateBefore = opt.state();
        float[] before = LoraModelTest.forward(n);
        run.atStep(3);
        assertEquals(4, run.rank());
        assertArrayEquals(before, LoraModelTest.forward(n), "switching directions on must not move the output");
        // New directions carry their initial values: the linear layers' A rows come back, B columns stay zero.
        float[] a1 = lora.adapterStateDict("default").get("base_model.model.encoder.fc1.lora_A.weight").data();
        float[] a1init = init.get("base_model.model.encoder.fc1.lora_A.weight");
        for (int x = 2 * 12; x < 4 * 12; x++) assertEquals(a1init[x], a1[x]);

        // The optimizer state has the old entries as they were and zeros for the new ones.
        Map<String, float[]> stateAfter = opt.state();
        assertEquals(stateBefore.keySet(), stateAfter.keySet());
        for (int i = 0; i < params.size(); i++) {
            float[] m = stateAfter.get("exp_avg." + i), v = stateAfter.get("exp_avg_sq." + i);
            assertArrayEquals(stateBefore.get("exp_avg." + i), m);
            assertEquals(3f, stateAfter.get("step." + i)[0]);
        }
        float[] mB = stateAfter.get("exp_avg." + params.indexOf(((LoraLayer) n.get("encoder.fc1")).adapterParameters("default").get("lora_B.weight")));
        for (int o = 0; o < 20; o++) for (int j = 2; j < 4; j++) assertEquals(0f, mB[o * 4 + j], "new direction's moment starts at zero");

        // After growth the new directions learn.
        loss(n);
        opt.step();
        opt.zeroGrad();
        for (LoraLayer l : lora.loraLayers()) assertFalse(directionIsZero(l, 3), "direction 3 learns once on");
    }

    @Test
    void trainerRunsTheScheduleAndTheAdapterSavesAtFullRank() throws Exception {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2"), 1);
        RankSchedule.Run run = RankSchedule.parse("1@0,2@2,4@4").start(lora, "default");
        List<Long> seen = new ArrayList<>();
        TrainingOptions o = new TrainingOptions(1, 1, 1, 1e-2, 0, 0, "constant", 0, 1);
        List<Integer> examples = List.of(0, 1, 2, 3, 4, 5);
        new Trainer(o, false).withStepHook(new Trainer.StepHook() {
                @Override
                public void start(long step) {
                    seen.add(-step - 1);
                    run.start(step);
                }

                @Override
                public void afterStep(long completed) {
                    seen.add(completed);
                    run.atStep(completed);
                }
            })
            .fit(examples, lora.trainableVariables(), batch -> new Trainer.LossFunction.Result(
                Ops.crossEntropy(n.forward(LoraModelTest.IDS), TARGETS, -100), TARGETS.length));
        assertEquals(List.of(-1L, 1L, 2L, 3L, 4L, 5L, 6L), seen, "start(0), then after each of the 6 steps");
        assertEquals(4, run.rank());
        for (LoraLayer l : lora.loraLayers()) {
            // Direction 3 joined after step 4 and trained for two steps.
            assertFalse(directionIsZero(l, 3));
            assertEquals(4, l.adapterParameters("default").get("lora_A.weight").shape().dim(0));
        }
    }
}
