package dev.lora4j.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class LlamaConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode json(String s) {
        try {
            return JSON.readTree(s.replace('\'', '"'));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static final String BASE = "'vocab_size': 100, 'hidden_size': 64, 'intermediate_size': 128, 'num_hidden_layers': 2, 'num_attention_heads': 4";

    @Test
    void llamaDefaults() {
        LlamaConfig c = LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE + "}"));
        assertEquals(4, c.numKeyValueHeads());
        assertEquals(16, c.headDim());
        assertEquals(1e-6f, c.rmsNormEps());
        assertEquals(10000.0, c.ropeTheta());
        assertNull(c.ropeScaling());
        assertEquals(2048, c.maxPositionEmbeddings());
        assertFalse(c.tieWordEmbeddings());
        assertFalse(c.qkvBias());
        assertFalse(c.oProjBias());
        assertFalse(c.mlpBias());
        assertNull(c.slidingWindow());
    }

    @Test
    void llamaBiasesHeadDimAndGqa() {
        LlamaConfig c = LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE
            + ", 'num_key_value_heads': 2, 'head_dim': 32, 'attention_bias': true, 'mlp_bias': true, 'tie_word_embeddings': true,"
            + " 'rms_norm_eps': 1e-5, 'rope_theta': 500000.0, 'hidden_act': 'silu'}"));
        assertEquals(2, c.numKeyValueHeads());
        assertEquals(32, c.headDim());
        assertEquals(64, c.kvWidth());
        assertEquals(2, c.group());
        assertTrue(c.qkvBias() && c.oProjBias() && c.mlpBias() && c.tieWordEmbeddings());
        assertEquals(1e-5f, c.rmsNormEps());
        assertEquals(500000.0, c.ropeTheta());
    }

    @Test
    void qwen2HasQkvBiasOnly() {
        LlamaConfig c = LlamaConfig.fromJson(json("{'model_type': 'qwen2', " + BASE + ", 'sliding_window': 4096, 'use_sliding_window': false}"));
        assertTrue(c.qkvBias());
        assertFalse(c.oProjBias());
        assertFalse(c.mlpBias());
        assertNull(c.slidingWindow());
        assertEquals(32768, c.maxPositionEmbeddings());
        LlamaConfig sliding = LlamaConfig.fromJson(json("{'model_type': 'qwen2', " + BASE + ", 'sliding_window': 512, 'use_sliding_window': true}"));
        assertEquals(512, sliding.slidingWindow());
    }

    @Test
    void mistralSlidingWindow() {
        assertEquals(4096, LlamaConfig.fromJson(json("{'model_type': 'mistral', " + BASE + "}")).slidingWindow());
        assertNull(LlamaConfig.fromJson(json("{'model_type': 'mistral', " + BASE + ", 'sliding_window': null}")).slidingWindow());
        LlamaConfig c = LlamaConfig.fromJson(json("{'model_type': 'mistral', " + BASE + ", 'attention_bias': true}"));
        assertFalse(c.qkvBias(), "Mistral has no attention bias whatever the config says");
    }

    @Test
    void ropeScalingForms() {
        LlamaConfig lin = LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE + ", 'rope_scaling': {'type': 'linear', 'factor': 2.0}}"));
        assertEquals(LlamaConfig.RopeScaling.linear(2.0), lin.ropeScaling());
        LlamaConfig l3 = LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE + ", 'rope_scaling': {'rope_type': 'llama3', 'factor': 32.0,"
            + " 'low_freq_factor': 1.0, 'high_freq_factor': 4.0, 'original_max_position_embeddings': 8192}}"));
        assertEquals(LlamaConfig.RopeScaling.llama3(32, 1, 4, 8192), l3.ropeScaling());
        // transformers 5 writes rope_parameters with the theta inside
        LlamaConfig v5 = LlamaConfig.fromJson(json("{'model_type': 'qwen2', " + BASE + ", 'rope_parameters': {'rope_type': 'default', 'rope_theta': 1000000.0}}"));
        assertNull(v5.ropeScaling());
        assertEquals(1e6, v5.ropeTheta());
        assertNull(LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE + ", 'rope_scaling': null}")).ropeScaling());
    }

    @Test
    void clearErrors() {
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(json("{'model_type': 'gemma', " + BASE + "}")));
        assertTrue(e.getMessage().contains("gemma") && e.getMessage().contains("llama, mistral, qwen2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE
            + ", 'rope_scaling': {'rope_type': 'yarn', 'factor': 4.0}}")));
        assertTrue(e.getMessage().contains("yarn") && e.getMessage().contains("llama3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE + ", 'hidden_act': 'gelu'}")));
        assertTrue(e.getMessage().contains("gelu"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(json("{'model_type': 'llama', 'vocab_size': 100}")));
        assertTrue(e.getMessage().contains("hidden_size"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(json("{'model_type': 'llama', " + BASE + ", 'num_key_value_heads': 3}")));
        assertTrue(e.getMessage().contains("num_key_value_heads"), e.getMessage());
    }

    /** The formulas of transformers' rope init functions, in double precision. */
    static double[] referenceInvFreq(int headDim, double theta, LlamaConfig.RopeScaling s) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            double f = 1 / Math.pow(theta, 2.0 * i / headDim);
            if (s == null) {
                inv[i] = f;
            } else if (s.type().equals("linear")) {
                inv[i] = f / s.factor();
            } else {
                double old = s.originalMaxPositionEmbeddings();
                double lowWavelen = old / s.lowFreqFactor(), highWavelen = old / s.highFreqFactor();
                double wavelen = 2 * Math.PI / f;
                if (wavelen < highWavelen) inv[i] = f;
                else if (wavelen > lowWavelen) inv[i] = f / s.factor();
                else {
                    double smooth = (old / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                    inv[i] = (1 - smooth) * f / s.factor() + smooth * f;
                }
            }
        }
        return inv;
    }

    static LlamaConfig withRope(int headDim, double theta, LlamaConfig.RopeScaling s) {
        return new LlamaConfig("llama", 10, headDim, 8, 1, 1, 1, headDim, 1e-5f, theta, s, 131072, false, false, false, false, null);
    }

    private static void assertClose(double[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 2e-6 * expected[i], "inv_freq[" + i + "]");
        }
    }

    @Test
    void llama3InverseFrequenciesFollowTheFormula() {
        // Llama 3.2: theta 500000, head_dim 64, factor 32, low 1, high 4, original context 8192.
        var s = LlamaConfig.RopeScaling.llama3(32, 1, 4, 8192);
        float[] inv = withRope(64, 500000, s).inverseFrequencies();
        double[] ref = referenceInvFreq(64, 500000, s);
        assertClose(ref, inv);
        // All three regions occur: unchanged (high frequencies), interpolated, divided by the factor.
        double[] plain = referenceInvFreq(64, 500000, null);
        int kept = 0, divided = 0, smoothed = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Math.abs(ref[i] - plain[i]) < 1e-12 * plain[i]) kept++;
            else if (Math.abs(ref[i] - plain[i] / 32) < 1e-12 * plain[i]) divided++;
            else smoothed++;
        }
        assertTrue(kept > 0 && divided > 0 && smoothed > 0, kept + " kept, " + divided + " divided, " + smoothed + " smoothed");
        // head_dim 128 (Llama 3.1 8B)
        assertClose(referenceInvFreq(128, 500000, LlamaConfig.RopeScaling.llama3(8, 1, 4, 8192)),
            withRope(128, 500000, LlamaConfig.RopeScaling.llama3(8, 1, 4, 8192)).inverseFrequencies());
    }

    @Test
    void defaultAndLinearInverseFrequencies() {
        assertClose(referenceInvFreq(16, 10000, null), withRope(16, 10000, null).inverseFrequencies());
        assertClose(referenceInvFreq(64, 1e6, LlamaConfig.RopeScaling.linear(4)), withRope(64, 1e6, LlamaConfig.RopeScaling.linear(4)).inverseFrequencies());
    }
}
