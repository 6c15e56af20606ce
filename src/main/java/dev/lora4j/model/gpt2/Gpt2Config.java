package dev.lora4j.model.gpt2;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The fields of a Hugging Face GPT2Config (config.json) that the forward pass needs, with transformers'
 * defaults for absent ones (those of the 124M "gpt2" model).
 *
 * @param nInner                     the MLP width (config n_inner; null there means 4·n_embd)
 * @param activationFunction         "gelu_new" (tanh approximation, GPT-2's), "gelu_pytorch_tanh" (the same
 *                                   function) or "gelu" (exact erf)
 * @param scaleAttnWeights           divide attention scores by √headDim
 * @param scaleAttnByInverseLayerIdx further divide layer i's scores by i + 1
 * @param tieWordEmbeddings          lm_head shares wte's weight (PretrainedConfig's default, true)
 */
public record Gpt2Config(int vocabSize, int nEmbd, int nLayer, int nHead, int nPositions, int nInner,
                         String activationFunction, float layerNormEpsilon, boolean scaleAttnWeights,
                         boolean scaleAttnByInverseLayerIdx, boolean tieWordEmbeddings, int bosTokenId, int eosTokenId) {
    public Gpt2Config {
        if (vocabSize <= 0 || nEmbd <= 0 || nLayer <= 0 || nHead <= 0 || nPositions <= 0 || nInner <= 0) {
            throw new IllegalArgumentException("GPT-2 config: sizes must be positive (vocab_size " + vocabSize + ", n_embd " + nEmbd
                + ", n_layer " + nLayer + ", n_head " + nHead + ", n_positions " + nPositions + ", n_inner " + nInner + ")");
        }
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " is not a multiple of n_head " + nHead);
        }
        if (!activationFunction.equals("gelu_new") && !activationFunction.equals("gelu_pytorch_tanh") && !activationFunction.equals("gelu")) {
            throw new IllegalArgumentException("unsupported GPT-2 activation_function '" + activationFunction
                + "' (supported: gelu_new, gelu_pytorch_tanh, gelu)");
        }
    }

    /** The 124M "gpt2": 12 layers, 768 wide, 12 heads, 1024 positions, vocab 50257. */
    public static Gpt2Config gpt2Small() {
        return new Gpt2Config(50257, 768, 12, 12, 1024, 3072, "gelu_new", 1e-5f, true, false, true, 50256, 50256);
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    /** True for the tanh-approximated GELU (gelu_new, gelu_pytorch_tanh); false for the exact one. */
    public boolean tanhGelu() {
        return !activationFunction.equals("gelu");
    }

    /** Reads config.json, with transformers' GPT2Config defaults for absent optional fields. */
    public static Gpt2Config fromJson(JsonNode c) {
        String type = c.path("model_type").asText("gpt2");
        if (!type.equals("gpt2")) throw new IllegalArgumentException("config.json: model_type '" + type + "' is not gpt2");
        if (c.path("add_cross_attention").asBoolean(false)) {
            throw new IllegalArgumentException("config.json: GPT-2 with cross-attention (add_cross_attention) is not supported");
        }
        int nEmbd = c.path("n_embd").asInt(768);
        return new Gpt2Config(
            c.path("vocab_size").asInt(50257), nEmbd, c.path("n_layer").asInt(12), c.path("n_head").asInt(12),
            c.path("n_positions").asInt(1024),
            c.hasNonNull("n_inner") ? c.get("n_inner").asInt() : 4 * nEmbd,
            c.path("activation_function").asText("gelu_new"),
            (float) c.path("layer_norm_epsilon").asDouble(1e-5),
            c.path("scale_attn_weights").asBoolean(true),
            c.path("scale_attn_by_inverse_layer_idx").asBoolean(false),
            c.path("tie_word_embeddings").asBoolean(true),
            c.path("bos_token_id").asInt(50256), c.path("eos_token_id").asInt(50256));
    }
}
