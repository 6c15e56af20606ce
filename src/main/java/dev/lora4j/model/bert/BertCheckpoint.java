package dev.lora4j.model.bert;

import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.io.onnx.BertOnnxWeights;
import dev.lora4j.io.onnx.BuiltinBertModel;
import dev.lora4j.model.Weights;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A BERT model's configuration, weights and tokenizer, ready to build a {@link BertModel} from. The built-in
 * ones (all-MiniLM-L6-v2, and bge-small-en-v1.5 when its artifact is on the class path) come from the ONNX files
 * of Maven Central artifacts, with every weight renamed to its Hugging Face name; others from Hugging Face
 * directories.
 *
 * @param prefix where the encoder's weights sit in the checkpoint: "" (BertModel) or "bert." (a task model)
 * @param hubId the Hugging Face id of the same model, written as base_model_name_or_path in adapters
 */
public record BertCheckpoint(String name, String hubId, BertConfig config, Weights.Checkpoint weights, String prefix,
                             Tokenizer tokenizer) {

    /** True when the checkpoint has the pooler of BertModel (sentence-transformers exports often do not). */
    public boolean hasPooler() {
        return weights.has(prefix + "pooler.dense.weight");
    }

    /**
     * Loads a Hugging Face BERT directory (BERT, all-MiniLM-L6-v2, BGE, E5): config.json with model_type bert,
     * safetensors weights named as BertModel ("embeddings...") or inside a task model ("bert.embeddings..."),
     * and tokenizer.json.
     */
    public static BertCheckpoint fromDirectory(Path dir) throws IOException {
        HfModelDirectory hf = HfModelDirectory.open(dir);
        if (!hf.modelType().equals("bert")) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": model_type '" + hf.modelType() + "' is not a BERT model");
        }
        Weights.Checkpoint weights = Weights.of(hf.mapTensors(), dir.toString());
        String prefix = weights.has("bert.embeddings.word_embeddings.weight") ? "bert." : "";
        String name = hf.config().path("_name_or_path").asText(dir.getFileName().toString());
        return new BertCheckpoint(dir.getFileName().toString(), name, BertConfig.fromJson(hf.config()), weights, prefix,
            Tokenizer.fromDirectory(dir));
    }

    /**
     * Loads a model by reference: a built-in name or its Hub id ("all-MiniLM-L6-v2",
     * "sentence-transformers/all-MiniLM-L6-v2"), a Hugging Face directory, or any other Hub id "org/name[@rev]",
     * which is taken from the Hugging Face cache and downloaded into it when missing (HF_HUB_OFFLINE=1 forbids that).
     */
    public static BertCheckpoint load(String ref) throws IOException {
        if (!Files.isDirectory(Path.of(ref)) && isBuiltin(ref)) return builtin(ref);
        return fromDirectory(HubClient.resolve(ref, DownloadListener.NONE));
    }

    /** True when {@code ref} names a built-in model that is on the class path ("all-MiniLM-L6-v2"). */
    public static boolean isBuiltin(String ref) {
        try {
            // Known but not on the class path (bge-small's artifact is optional): then the Hub serves it.
            return BuiltinBertModel.byName(ref).isAvailable();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Loads a built-in model by name ("all-MiniLM-L6-v2"). */
    public static BertCheckpoint builtin(String name) throws IOException {
        BuiltinBertModel model = BuiltinBertModel.byName(name);
        BertOnnxWeights onnx = BertOnnxWeights.loadBuiltin(model);
        BertOnnxWeights.Config c = onnx.config();
        BertConfig config = new BertConfig(c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(), c.numAttentionHeads(),
            c.intermediateSize(), "gelu", c.maxPositionEmbeddings(), c.typeVocabSize(), (float) c.layerNormEps());
        Tokenizer tokenizer = Tokenizer.fromBytes(model.tokenizerJson(), model.modelName());
        return new BertCheckpoint(model.modelName(), model.hubId(), config, Weights.of(onnx.weights(), onnx.source()), "", tokenizer);
    }
}
