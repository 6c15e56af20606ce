package dev.lora4j.model.bert;

import dev.lora4j.io.onnx.BertOnnxWeights;
import dev.lora4j.io.onnx.BuiltinBertModel;
import dev.lora4j.model.Weights;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;

/**
 * A BERT model's configuration, weights and tokenizer, ready to build a {@link BertModel} from. The built-in
 * ones (all-MiniLM-L6-v2, and bge-small-en-v1.5 when its artifact is on the class path) come from the ONNX files
 * of Maven Central artifacts, with every weight renamed to its Hugging Face name.
 *
 * @param hubId the Hugging Face id of the same model, written as base_model_name_or_path in adapters
 */
public record BertCheckpoint(String name, String hubId, BertConfig config, Weights.Checkpoint weights, Tokenizer tokenizer) {

    /** Loads a built-in model by name ("all-MiniLM-L6-v2"). */
    public static BertCheckpoint builtin(String name) throws IOException {
        BuiltinBertModel model = BuiltinBertModel.byName(name);
        BertOnnxWeights onnx = BertOnnxWeights.loadBuiltin(model);
        BertOnnxWeights.Config c = onnx.config();
        BertConfig config = new BertConfig(c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(), c.numAttentionHeads(),
            c.intermediateSize(), "gelu", c.maxPositionEmbeddings(), c.typeVocabSize(), (float) c.layerNormEps());
        Tokenizer tokenizer = Tokenizer.fromBytes(model.tokenizerJson(), model.modelName());
        return new BertCheckpoint(model.modelName(), model.hubId(), config, Weights.of(onnx.weights(), onnx.source()), tokenizer);
    }
}
