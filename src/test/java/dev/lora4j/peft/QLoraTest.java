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
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * LoRA on a quantized base (QLoRA, --base-dtype): the base is stored quantized and stays so through training;
 * the model computes exactly what an F32 model with the dequantized weights computes; gradients are right;
 * the adapter is a plain Peft LoRA adapter; merging dequantizes and matches the unmerged quantized model.
 */
class QLoraTest {
    static final int[] LABELS = {1, 2, 3, 4, 5, 6, 0, 1};

    static Linear linear(Module m, String path) {
        Module x = m.get(path);
        return x instanceof LoraLinear l ? l.baseLayer() : (Linear) x;
    }

    @ParameterizedTest
    @EnumSource(value = BaseDType.class, names = {"NF4", "INT8", "BF16"})
    void quantizedModelComputesWhatItsDequantizedWeightsCompute(BaseDType dtype) {
        TinyNet q = LoraModelTest.net();
        QuantizedBase.Summary s = QuantizedBase.apply(q, dtype, path -> true);
        assertEquals(2, s.layers(), "fc1 and fc2; lm_head stays F32 as the output layer");
        assertEquals(2L * LoraModelTest.DIM * LoraModelTest.HIDDEN, s.parameters());
        assertTrue(linear(q, "encoder.fc1").weight().value().isMapped(), "held " + dtype + ", not widened");
        assertFalse(linear(q, "lm_head").weight().value().isMapped());
        // The oracle: the same net with each quantized weight dequantized onto the heap (F32 GEMM).
        TinyNet f = LoraModelTest.net();
        for (String p : new String[] {"encoder.fc1", "encoder.fc2"}) {
            Tensor t = linear(q, p).weight().value();
            // Read without widening the tensor itself (data() would cache a heap copy, which GEMM would then use).
            float[] deq = t.quantized() != null ? t.quantized().dequantize() : Tensor.fromSegment(t.segment(), t.mappedType(), t.shape()).data();
            System.arraycopy(deq, 0, linear(f, p).weight().data(), 0, deq.length);
        }
        assertArrayEquals(LoraModelTest.forward(f), LoraModelTest.forward(q), 1e-6f);
        assertTrue(linear(q, "encoder.fc1").weight().value().isMapped(), "the forward read it in place");
        assertTrue(LoraModelTest.maxAbsDiff(LoraModelTest.forward(LoraModelTest.net()), LoraModelTest.forward(q)) > 0,
            "quantization changes the output a little");
    }

    @Test
    void loraOnNf4BaseHasFiniteDifferenceGradientsAndLeavesTheBaseQuantized() {
        TinyNet n = LoraModelTest.net();
        QuantizedBase.apply(n, BaseDType.NF4, path -> true);
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2").withDropout(0), 1);
        LoraModelTest.randomiseAdapter(lora, "default", 3);
        n.train(false);
        var check = GradCheck.of("qlora", () -> Ops.crossEntropy(n.forward(LoraModelTest.IDS), LABELS, -100)).step(1e-2);
        for (LoraLayer l : lora.loraLayers()) {
            l.adapterParameters("default").forEach((k, v) -> check.wrt(l + "." + k, v));
        }
        check.run();
        // A training-style step: backward through the quantized base (dX = dY·W decoded in GEMM), no base gradient.
        Variable loss = Ops.crossEntropy(n.forward(LoraModelTest.IDS), LABELS, -100);
        Tape.current().backward(loss);
        for (String p : new String[] {"encoder.fc1", "encoder.fc2"}) {
            Variable w = linear(n, p).weight();
            assertFalse(w.requiresGrad());
            assertNull(w.grad());
            assertNotNull(w.value().quantized(), p + " still NF4 after forward and backward");
        }
    }

    @Test
    void adapterIsAPlainPeftLoraAdapterAndLoadsBackOntoAQuantizedBase(@TempDir Path dir) throws Exception {
        TinyNet n = LoraModelTest.net();
        QuantizedBase.apply(n, BaseDType.NF4, path -> true);
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2"), 1);
        LoraModelTest.randomiseAdapter(lora, "default", 3);
        float[] trained = LoraModelTest.forward(n);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "tiny");
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertFalse(cfg.path("use_dora").asBoolean(false));
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            Set<String> keys = new TreeSet<>(f.names());
            assertEquals(Set.of("base_model.model.encoder.fc1.lora_A.weight", "base_model.model.encoder.fc1.lora_B.weight",
                "base_model.model.encoder.fc2.lora_A.weight", "base_model.model.encoder.fc2.lora_B.weight"), keys);
        }
        TinyNet again = LoraModelTest.net();
        QuantizedBase.apply(again, BaseDType.NF4, path -> true);
        PeftAdapterReader.load(again, dir, "default", 0);
        assertArrayEquals(trained, LoraModelTest.forward(again), 1e-6f);
    }

    /**
     * Merging dequantizes W and adds the update in F32: the merged model equals the unmerged quantized one up to
     * float rounding (1e-5 of the output scale), and differs from the same adapter on the F32 base by the
     * quantization error, which is what the merge warns about.
     */
    @Test
    void mergeMatchesTheUnmergedQuantizedModel() {
        TinyNet n = LoraModelTest.net();
        QuantizedBase.apply(n, BaseDType.NF4, path -> true);
        LoraModel lora = LoraModel.inject(n, LoraConfig.of(4, 8, "fc1,fc2"), 1);
        LoraModelTest.randomiseAdapter(lora, "default", 3);
        float[] unmerged = LoraModelTest.forward(n);
        Module merged = lora.mergeAndUnload();
        Tensor w = linear(merged, "encoder.fc1").weight().value();
        assertNull(w.quantized(), "merged weight is F32 on the heap");
        LoraModelTest.assertClose(unmerged, LoraModelTest.forward(n), 1e-5);

        TinyNet full = LoraModelTest.net();
        LoraModel onF32 = LoraModel.inject(full, LoraConfig.of(4, 8, "fc1,fc2"), 1);
        LoraModelTest.randomiseAdapter(onF32, "default", 3);
        double diff = LoraModelTest.maxAbsDiff(unmerged, LoraModelTest.forward(full));
        assertTrue(diff > 1e-4 && diff < 0.5, "NF4 vs F32 base differ by the quantization error: " + diff);
    }

    @Test
    void summaryCountsBytes() {
        TinyNet n = LoraModelTest.net();
        QuantizedBase.Summary s = QuantizedBase.apply(n, BaseDType.NF4, path -> !path.endsWith("fc2"));
        assertEquals(1, s.layers());
        long elems = (long) LoraModelTest.DIM * LoraModelTest.HIDDEN;
        assertEquals(4 * elems, s.bytesBefore());
        assertEquals(dev.lora4j.kernel.Nf4Matrix.storageBytes(elems), s.bytesAfter());
        assertFalse(linear(n, "encoder.fc2").weight().value().isMapped(), "kept in F32");
    }
}
