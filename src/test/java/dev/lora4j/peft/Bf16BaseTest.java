package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.Weights;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A frozen base stored as BF16 ({@code --base-dtype bf16}) computes what its rounded weights compute, within the
 * error that BF16's rounding allows: BF16 keeps 8 significant bits (7 stored, one implicit), so rounding to
 * nearest stores a weight w as w(1+e) with |e| <= 2^-8 (half a unit in the last place, 2^-8 relative at the bottom
 * of a binade, 2^-9 at its top). The bounds below follow from that alone, not from lora4j's outputs.
 */
class Bf16BaseTest {
    static final double BF16_UNIT_ROUNDOFF = 0x1p-8;
    static final double F32_UNIT_ROUNDOFF = 0x1p-24;
    static final Path LLAMA_TINY = Path.of("src/test/resources/fixtures/llama-tiny");

    /**
     * y = x·Wᵀ on a BF16 W against the F32 W, element by element: |Δy_ik| <= 2^-8 Σ_j |x_ij W_kj| from the weight
     * rounding, plus twice the worst-case F32 accumulation error γ_K Σ_j |x_ij W_kj| (one for each product).
     */
    @Test
    void linearOnBf16WeightStaysWithinBf16RoundingOfF32() {
        int m = 9, k = 300, n = 37;
        SplittableRandom rnd = new SplittableRandom(11);
        float[] w = new float[n * k], x = new float[m * k];
        // Weights over six decades, so that rounding is checked across exponents, not at one scale.
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextDouble(-3, 3)));
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        Tensor stored = BaseDType.BF16.store(Tensor.of(w.clone(), n, k));
        assertTrue(stored.isMapped(), "held as BF16");
        float[] back = Tensor.fromSegment(stored.segment(), stored.mappedType(), stored.shape()).data();
        for (int i = 0; i < w.length; i++) {
            assertTrue(Math.abs(back[i] - w[i]) <= BF16_UNIT_ROUNDOFF * Math.abs(w[i]), "weight " + i + ": " + w[i] + " -> " + back[i]);
        }
        float[] f32, bf16;
        try (var _ = Tape.noGrad()) {
            Variable in = new Variable(Tensor.of(x, m, k), false);
            f32 = new Linear(new Variable(Tensor.of(w, n, k), false), null).forward(in).data().clone();
            bf16 = new Linear(new Variable(stored, false), null).forward(in).data().clone();
        }
        double gamma = k * F32_UNIT_ROUNDOFF / (1 - k * F32_UNIT_ROUNDOFF);
        double worstRatio = 0;
        for (int i = 0; i < m; i++) {
            for (int o = 0; o < n; o++) {
                double abs = 0;
                for (int j = 0; j < k; j++) abs += Math.abs((double) x[i * k + j] * w[o * k + j]);
                double bound = (BF16_UNIT_ROUNDOFF + 2 * gamma) * abs;
                double diff = Math.abs(bf16[i * n + o] - f32[i * n + o]);
                assertTrue(diff <= bound, "y[" + i + "," + o + "]: |bf16 - f32| " + diff + " > bound " + bound);
                worstRatio = Math.max(worstRatio, diff / bound);
            }
        }
        assertTrue(worstRatio > 0, "BF16 storage changed nothing: the test would not see a wrong rounding");
    }

    /**
     * The tiny Llama fixture with its linear layers stored as BF16 against PyTorch (tools/make_bf16_base_fixture.py):
     * our logits equal PyTorch's forward with {@code w.to(torch.bfloat16)} weights to F32 precision (the same 1e-4 as
     * the F32 fixture test), and differ from the F32 model's logits by no more than the first-order bound that
     * 2^-8 relative rounding of every converted weight implies, per logit.
     */
    @Test
    void llamaTinyOnBf16BaseMatchesPyTorchWithRoundedWeightsAndTheRoundingBound() throws Exception {
        LlamaConfig config = LlamaConfig.fromJson(new ObjectMapper().readTree(Files.readString(LLAMA_TINY.resolve("config.json"))));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(LLAMA_TINY.resolve("model.safetensors"))) {
            for (String name : f.names()) tensors.put(name, f.tensor(name));
        }
        LlamaForCausalLM model = LlamaForCausalLM.fromWeights(config, Weights.of(tensors, LLAMA_TINY.toString()));
        QuantizedBase.Summary s = QuantizedBase.applyExcept(model, BaseDType.BF16, List.of());
        assertEquals(7 * config.numHiddenLayers(), s.layers(), "q, k, v, o, gate, up, down per layer; the tied lm_head stays F32");

        int[] ids, mask;
        float[] f32Logits, torchBf16, bound;
        int batch, seq;
        try (SafetensorsFile e = SafetensorsFile.open(LLAMA_TINY.resolve("expected.safetensors"));
             SafetensorsFile b = SafetensorsFile.open(LLAMA_TINY.resolve("bf16-base.safetensors"))) {
            ids = toInts(e.longs("input_ids"));
            mask = toInts(e.longs("attention_mask"));
            long[] shape = e.info("input_ids").shape();
            batch = (int) shape[0];
            seq = (int) shape[1];
            f32Logits = e.tensor("logits").data();
            torchBf16 = b.tensor("logits_bf16_base").data();
            bound = b.tensor("bound").data();
        }
        float[] logits;
        try (var _ = Tape.noGrad()) {
            logits = model.forward(ids, batch, seq, mask).data();
        }
        int vocab = model.vocabSize();
        double worstVsTorch = 0, worstVsF32 = 0;
        for (int t = 0; t < batch * seq; t++) {
            if (mask[t] == 0) continue;
            for (int j = 0; j < vocab; j++) {
                int i = t * vocab + j;
                worstVsTorch = Math.max(worstVsTorch, Math.abs(logits[i] - torchBf16[i]));
                double diff = Math.abs(logits[i] - f32Logits[i]);
                // 1e-4: the F32 fixture test's tolerance between our F32 arithmetic and PyTorch's.
                assertTrue(diff <= bound[i] + 1e-4, "logit " + i + ": |bf16 base - f32| " + diff + " > rounding bound " + bound[i]);
                worstVsF32 = Math.max(worstVsF32, diff);
            }
        }
        assertTrue(worstVsTorch <= 1e-4, "max |logit - PyTorch's with BF16-rounded weights| " + worstVsTorch);
        assertTrue(worstVsF32 > 1e-3, "the BF16 base should move the logits visibly, moved " + worstVsF32);
    }

    /**
     * A random model's weights are F32 arrays on the heap (benchmarks build them so); after conversion nothing may
     * keep those arrays, or a narrower base would save no heap.
     */
    @ParameterizedTest
    @EnumSource(value = BaseDType.class, names = {"BF16", "INT8", "NF4"})
    void heapF32WeightsAreReleasedAfterConversion(BaseDType dtype) throws Exception {
        LlamaConfig config = LlamaConfig.fromJson(new ObjectMapper().readTree(Files.readString(LLAMA_TINY.resolve("config.json"))));
        LlamaForCausalLM model = LlamaForCausalLM.fromWeights(config, Weights.random(3, 0.02f));
        WeakReference<float[]> q = heapWeight(model, "model.layers.0.self_attn.q_proj");
        WeakReference<float[]> down = heapWeight(model, "model.layers.1.mlp.down_proj");
        QuantizedBase.applyExcept(model, dtype, List.of());
        for (int i = 0; i < 50 && (q.get() != null || down.get() != null); i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertNull(q.get(), "q_proj's F32 array is still reachable after conversion to " + dtype);
        assertNull(down.get(), "down_proj's F32 array is still reachable after conversion to " + dtype);
        Tensor stored = ((Linear) model.get("model.layers.0.self_attn.q_proj")).weight().value();
        assertTrue(dtype == BaseDType.BF16 ? stored.isMapped() : stored.quantized() != null, "stored as " + dtype);
    }

    /** Held only weakly, so that the test's own frame does not keep the array alive. */
    private static WeakReference<float[]> heapWeight(LlamaForCausalLM model, String path) {
        Tensor w = ((Linear) model.get(path)).weight().value();
        assertFalse(w.isMapped());
        assertNull(w.quantized());
        return new WeakReference<>(w.data());
    }

    private static int[] toInts(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) out[i] = Math.toIntExact(a[i]);
        return out;
    }
}
