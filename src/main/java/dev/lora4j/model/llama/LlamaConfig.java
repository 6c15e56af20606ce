package dev.lora4j.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lora4j.kernel.Rope;
import java.util.List;

/**
 * The fields of a Hugging Face LlamaConfig, MistralConfig or Qwen2Config (config.json) that the forward pass
 * needs. The three architectures share one decoder (pre-RMSNorm, rotary positions, grouped-query attention,
 * SwiGLU MLP) and differ only in which projections carry a bias and in sliding-window attention:
 * <ul>
 *   <li>llama: q/k/v/o biases iff {@code attention_bias}; gate/up/down biases iff {@code mlp_bias}.</li>
 *   <li>mistral: no biases at all; {@code sliding_window} (default 4096) limits how far back a query sees.</li>
 *   <li>qwen2: q/k/v always have a bias, o_proj never; sliding window only with {@code use_sliding_window}.</li>
 * </ul>
 *
 * @param headDim       per-head width ({@code head_dim}, default hidden_size / num_attention_heads)
 * @param ropeScaling   null for plain RoPE, else the linear or llama3 frequency rule
 * @param qkvBias       whether q_proj, k_proj and v_proj have a bias
 * @param oProjBias     whether o_proj has a bias
 * @param mlpBias       whether gate_proj, up_proj and down_proj have a bias
 * @param slidingWindow keys further back than this many positions are invisible (null: none). Not implemented
 *                      by the attention kernels; the models refuse sequences longer than the window instead of
 *                      silently computing something else.
 */
public record LlamaConfig(String modelType, int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                          int numAttentionHeads, int numKeyValueHeads, int headDim, float rmsNormEps, double ropeTheta,
                          RopeScaling ropeScaling, int maxPositionEmbeddings, boolean tieWordEmbeddings,
                          boolean qkvBias, boolean oProjBias, boolean mlpBias, Integer slidingWindow) {

    /** The model_type values this decoder implements. */
    public static final List<String> SUPPORTED_TYPES = List.of("llama", "mistral", "qwen2");

    public LlamaConfig {
        if (!SUPPORTED_TYPES.contains(modelType)) {
            throw new IllegalArgumentException("unsupported model_type '" + modelType + "' (supported: " + String.join(", ", SUPPORTED_TYPES) + ")");
        }
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numHiddenLayers);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (headDim <= 0 || headDim % 2 != 0) throw new IllegalArgumentException("head_dim must be positive and even for rotary positions, got " + headDim);
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads " + numAttentionHeads + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
        }
        if (!(ropeTheta > 0)) throw new IllegalArgumentException("rope_theta must be positive, got " + ropeTheta);
        if (slidingWindow != null && slidingWindow <= 0) throw new IllegalArgumentException("sliding_window must be positive, got " + slidingWindow);
    }

    private static void positive(String field, int value) {
        if (value <= 0) throw new IllegalArgumentException(field + " must be positive, got " + value);
    }

    /**
     * A RoPE frequency rule other than the default one ({@code rope_scaling} in config.json).
     *
     * @param type                          "linear" or "llama3"
     * @param factor                        the scaling factor (both types)
     * @param lowFreqFactor                 llama3 only (else NaN)
     * @param highFreqFactor                llama3 only (else NaN)
     * @param originalMaxPositionEmbeddings llama3 only (else 0)
     */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositionEmbeddings) {
        public static final List<String> SUPPORTED_TYPES = List.of("default", "linear", "llama3");

        public RopeScaling {
            if (!type.equals("linear") && !type.equals("llama3")) {
                throw new IllegalArgumentException("unsupported rope_scaling type '" + type + "' (supported: " + String.join(", ", SUPPORTED_TYPES) + ")");
            }
            if (!(factor > 0)) throw new IllegalArgumentException("rope_scaling factor must be positive, got " + factor);
            if (type.equals("llama3")) {
                if (!(highFreqFactor > lowFreqFactor) || !(lowFreqFactor > 0) || originalMaxPositionEmbeddings <= 0) {
                    throw new IllegalArgumentException("llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor and a positive "
                        + "original_max_position_embeddings, got " + lowFreqFactor + ", " + highFreqFactor + ", " + originalMaxPositionEmbeddings);
                }
            }
        }

        public static RopeScaling linear(double factor) {
            return new RopeScaling("linear", factor, Double.NaN, Double.NaN, 0);
        }

        public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
            return new RopeScaling("llama3", factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings);
        }
    }

    /** Key/value width of one token in one layer, kvHeads·headDim (a {@link dev.lora4j.model.KvCache}'s row). */
    public int kvWidth() {
        return numKeyValueHeads * headDim;
    }

    /** Query heads per key/value head. */
    public int group() {
        return numAttentionHeads / numKeyValueHeads;
    }

    /**
     * RoPE inverse frequencies [headDim / 2] as transformers' ROPE_INIT_FUNCTIONS compute them, step by step in
     * float32 (a more exact value would rotate differently from the reference at long positions):
     * <ul>
     *   <li>default: 1 / theta^(2i / headDim);</li>
     *   <li>linear: default / factor;</li>
     *   <li>llama3 (_compute_llama3_parameters): wavelengths 2π / f longer than original / low_freq_factor are
     *       divided by factor, shorter than original / high_freq_factor kept, and in between interpolated with
     *       smooth = (original / wavelen − low) / (high − low): (1 − smooth)·f / factor + smooth·f.</li>
     * </ul>
     */
    public float[] inverseFrequencies() {
        float[] inv = Rope.inverseFrequencies(headDim, ropeTheta);
        if (ropeScaling == null) return inv;
        float factor = (float) ropeScaling.factor();
        if (ropeScaling.type().equals("linear")) {
            for (int i = 0; i < inv.length; i++) inv[i] = inv[i] / factor;
            return inv;
        }
        // llama3. Python scalars meet float32 tensors, so each is used as a float32 and each op rounds to float32.
        // `2 * math.pi / inv_freq` is torch's __rtruediv__: reciprocal(inv_freq) * (2π), two roundings.
        double old = ropeScaling.originalMaxPositionEmbeddings();
        float low = (float) ropeScaling.lowFreqFactor();
        float lowFreqWavelen = (float) (old / ropeScaling.lowFreqFactor());
        float highFreqWavelen = (float) (old / ropeScaling.highFreqFactor());
        float twoPi = (float) (2 * Math.PI), oldLen = (float) old, span = (float) (ropeScaling.highFreqFactor() - ropeScaling.lowFreqFactor());
        for (int i = 0; i < inv.length; i++) {
            float f = inv[i];
            float wavelen = (1f / f) * twoPi;
            float scaled = wavelen > lowFreqWavelen ? f / factor : f;
            boolean medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            if (medium) {
                float smooth = ((1f / wavelen) * oldLen - low) / span;
                scaled = (1f - smooth) * scaled / factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
        return inv;
    }

    /** Reads config.json, with the defaults of transformers' config classes for absent optional fields. */
    public static LlamaConfig fromJson(JsonNode c) {
        String type = c.path("model_type").asText("");
        if (!SUPPORTED_TYPES.contains(type)) {
            throw new IllegalArgumentException("config.json: unsupported model_type '" + type + "' for the Llama-family decoder (supported: "
                + String.join(", ", SUPPORTED_TYPES) + ")");
        }
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu")) throw new IllegalArgumentException("config.json: unsupported hidden_act '" + act + "' for " + type + " (supported: silu)");
        int hidden = required(c, "hidden_size", type), heads = required(c, "num_attention_heads", type);
        int kvHeads = c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").asInt() : heads;
        if (hidden % heads != 0 && !c.hasNonNull("head_dim")) {
            throw new IllegalArgumentException("config.json: hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        double partial = c.path("partial_rotary_factor").asDouble(1.0);
        if (partial != 1.0) throw new IllegalArgumentException("config.json: partial_rotary_factor " + partial + " is not supported (only 1.0)");

        // transformers < 5 writes rope_theta and rope_scaling; transformers 5 writes rope_parameters instead.
        JsonNode ropeNode = c.hasNonNull("rope_parameters") ? c.get("rope_parameters") : c.get("rope_scaling");
        double theta = c.hasNonNull("rope_theta") ? c.get("rope_theta").asDouble()
            : ropeNode != null && ropeNode.hasNonNull("rope_theta") ? ropeNode.get("rope_theta").asDouble() : 10000.0;
        RopeScaling scaling = ropeScaling(ropeNode);

        int defaultMaxPos = switch (type) {
            case "llama" -> 2048;
            case "mistral" -> 4096 * 32;
            default -> 32768;
        };
        boolean qkvBias, oBias, mlpBias;
        Integer window;
        switch (type) {
            case "llama" -> {
                qkvBias = oBias = c.path("attention_bias").asBoolean(false);
                mlpBias = c.path("mlp_bias").asBoolean(false);
                window = null;
            }
            case "mistral" -> {
                qkvBias = oBias = mlpBias = false;
                if (!c.has("sliding_window")) window = 4096;
                else window = c.get("sliding_window").isNull() ? null : Integer.valueOf(c.get("sliding_window").asInt());
            }
            default -> {
                qkvBias = true;
                oBias = mlpBias = false;
                window = c.path("use_sliding_window").asBoolean(false) && c.hasNonNull("sliding_window")
                    ? Integer.valueOf(c.get("sliding_window").asInt()) : null;
            }
        }
        return new LlamaConfig(type, required(c, "vocab_size", type), hidden, required(c, "intermediate_size", type),
            required(c, "num_hidden_layers", type), heads, kvHeads, headDim, (float) c.path("rms_norm_eps").asDouble(1e-6), theta,
            scaling, c.path("max_position_embeddings").asInt(defaultMaxPos), c.path("tie_word_embeddings").asBoolean(false),
            qkvBias, oBias, mlpBias, window);
    }

    private static RopeScaling ropeScaling(JsonNode r) {
        if (r == null || r.isNull() || r.isMissingNode()) return null;
        String t = r.hasNonNull("rope_type") ? r.get("rope_type").asText() : r.path("type").asText("default");
        return switch (t) {
            case "default" -> null;
            case "linear" -> RopeScaling.linear(requiredDouble(r, "factor", t));
            case "llama3" -> RopeScaling.llama3(requiredDouble(r, "factor", t), requiredDouble(r, "low_freq_factor", t),
                requiredDouble(r, "high_freq_factor", t), (int) requiredDouble(r, "original_max_position_embeddings", t));
            default -> throw new IllegalArgumentException("config.json: unsupported rope_scaling type '" + t + "' (supported: "
                + String.join(", ", RopeScaling.SUPPORTED_TYPES) + ")");
        };
    }

    private static double requiredDouble(JsonNode r, String field, String ropeType) {
        if (!r.hasNonNull(field)) throw new IllegalArgumentException("config.json: rope_scaling of type " + ropeType + " needs '" + field + "'");
        return r.get(field).asDouble();
    }

    private static int required(JsonNode c, String field, String type) {
        if (!c.hasNonNull(field)) throw new IllegalArgumentException("config.json: missing '" + field + "' for a " + type + " model");
        return c.get(field).asInt();
    }
}
