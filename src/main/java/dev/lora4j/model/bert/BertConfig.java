package dev.lora4j.model.bert;

import com.fasterxml.jackson.databind.JsonNode;

/** The fields of a Hugging Face BertConfig (config.json) that the forward pass needs. */
public record BertConfig(int vocabSize, int hiddenSize, int numHiddenLayers, int numAttentionHeads,
                         int intermediateSize, String hiddenAct, int maxPositionEmbeddings, int typeVocabSize,
                         float layerNormEps) {
    public BertConfig {
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not a multiple of num_attention_heads " + numAttentionHeads);
        }
        if (!hiddenAct.equals("gelu") && !hiddenAct.equals("gelu_new")) {
            throw new IllegalArgumentException("unsupported BERT hidden_act '" + hiddenAct + "' (supported: gelu, gelu_new)");
        }
    }

    /** all-MiniLM-L6-v2: 6 layers, 384 hidden, 12 heads, 1536 intermediate, vocab 30522. */
    public static BertConfig miniLmL6() {
        return new BertConfig(30522, 384, 6, 12, 1536, "gelu", 512, 2, 1e-12f);
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Reads config.json, with transformers' defaults for absent optional fields. */
    public static BertConfig fromJson(JsonNode c) {
        return new BertConfig(
            required(c, "vocab_size"), required(c, "hidden_size"), required(c, "num_hidden_layers"),
            required(c, "num_attention_heads"), required(c, "intermediate_size"),
            c.path("hidden_act").asText("gelu"), c.path("max_position_embeddings").asInt(512),
            c.path("type_vocab_size").asInt(2), (float) c.path("layer_norm_eps").asDouble(1e-12));
    }

    private static int required(JsonNode c, String field) {
        if (!c.hasNonNull(field)) throw new IllegalArgumentException("config.json: missing '" + field + "' for a BERT model");
        return c.get(field).asInt();
    }
}
