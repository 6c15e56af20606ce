package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.GradCheck;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** LoRA+ trains B at ratio × A's learning rate; the L2 penalty adds λ·Σ‖p‖² over A and B only. */
class LoraParameterGroupsTest {
    static final class Net extends Module {
        final Slot<LinearLayer> proj;

        Net() {
            proj = register("proj", Linear.random(6, 4, true, new SplittableRandom(1)));
        }
    }

    private static Map<String, Variable> trainable(Module m) {
        Map<String, Variable> out = new LinkedHashMap<>();
        m.namedParameters().forEach((k, v) -> { if (v.requiresGrad()) out.put(k, v); });
        return out;
    }

    /** Adam's first step moves every parameter by lr·sign(g) (up to eps): B must move ratio times as far as A. */
    @Test
    void bLearnsRatioTimesFaster() throws Exception {
        Net net = new Net();
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(2, 4, "proj").withInit(LoraConfig.Init.RANDOM), 3);
        var p = lora.loraLayers().get(0).adapterParameters("default");
        float[] a0 = p.get("lora_A.weight").data().clone(), b0 = p.get("lora_B.weight").data().clone();
        Map<String, Variable> named = trainable(net);
        LoraParameterGroups groups = LoraParameterGroups.of(named, 16, 0, 0);
        assertEquals(2, groups.groups().size());
        assertEquals(List.of(p.get("lora_B.weight")), groups.groups().get(1).params());

        Variable x = Variable.constant(Tensor.of(GradCheck.randn(new Random(2), 5 * 6, 1), 5, 6));
        TrainingOptions opts = new TrainingOptions(1, 5, 1, 1e-3, 0, 0, "constant", 0, 1);
        new Trainer(opts, false).fitGroups(List.of(0), groups.groups(),
            batch -> new Trainer.LossFunction.Result(Ops.crossEntropy(net.proj.get().forward(x), new int[] {0, 1, 2, 3, 0}, -100), 5));
        for (int i = 0; i < a0.length; i++) assertEquals(1e-3, Math.abs(p.get("lora_A.weight").data()[i] - a0[i]), 1e-5, "A at lr");
        for (int i = 0; i < b0.length; i++) assertEquals(16e-3, Math.abs(p.get("lora_B.weight").data()[i] - b0[i]), 1e-5, "B at 16 x lr");
    }

    @Test
    void l2PenalisesExactlyTheLoraMatrices() {
        Net net = new Net();
        LoraModel lora = LoraModel.inject(net, LoraConfig.of(2, 4, "proj").withInit(LoraConfig.Init.RANDOM), 3);
        net.get("proj.base_layer").localParameters().get("bias").setRequiresGrad(true); // trainable, not penalised
        LoraParameterGroups groups = LoraParameterGroups.of(trainable(net), 1, 0, 0.5);
        assertEquals(1, groups.groups().size(), "ratio 1: one group");
        assertEquals(2, groups.penalised().size(), "A and B, not the bias");
        Variable zero = Variable.constant(Tensor.zeros());
        var p = lora.loraLayers().get(0).adapterParameters("default");
        double expected = 0;
        for (String k : List.of("lora_A.weight", "lora_B.weight")) for (float v : p.get(k).data()) expected += 0.5 * v * v;
        assertEquals(expected, groups.penalise(zero).data()[0], 1e-5);
    }
}
