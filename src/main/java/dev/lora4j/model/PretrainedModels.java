package dev.lora4j.model;

import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.nn.Module;
import java.nio.file.Files;

import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.model.gpt2.Gpt2Config;
import dev.lora4j.model.gpt2.Gpt2LMHeadModel;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds a model from a Hugging Face directory by its config.json {@code model_type}: one place that knows
 * which architecture serves which type, and that says clearly when none does.
 */
public final class PretrainedModels {
    /** The model types {@link #causalLm} accepts. */
    public static final List<String> CAUSAL_LM_TYPES = List.of("gpt2", "llama", "mistral", "qwen2");

    private PretrainedModels() {}

    /**
     * Any supported model by reference (built-in name, Hugging Face directory or Hub id), as a module tree to look
     * at: a decoder with its LM head, or a BERT-family encoder (with its pooler when the checkpoint has one).
     */
    public static Module load(String ref) throws IOException {
        Path dir = Path.of(ref);
        if (!Files.isDirectory(dir)) {
            try {
                return bert(BertCheckpoint.builtin(ref));
            } catch (IllegalArgumentException notBuiltin) {
                dir = HubClient.resolve(ref, DownloadListener.NONE);
            }
        }
        if (CAUSAL_LM_TYPES.contains(HfModelDirectory.open(dir).modelType())) return (Module) causalLm(dir);
        return bert(BertCheckpoint.fromDirectory(dir));
    }

    private static Module bert(BertCheckpoint c) {
        return new BertModel(c.config(), c.weights(), c.prefix(), c.hasPooler());
    }

    /** A decoder with its LM head (GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM). */
    public static CausalLanguageModel causalLm(Path dir) throws IOException {
        HfModelDirectory hf = HfModelDirectory.open(dir);
        String type = hf.modelType();
        Weights.Checkpoint weights = Weights.of(hf.mapTensors(), hf.dir().toString());
        return switch (type) {
            case "gpt2" -> Gpt2LMHeadModel.fromWeights(Gpt2Config.fromJson(hf.config()), weights);
            case "llama", "mistral", "qwen2" -> LlamaForCausalLM.fromWeights(LlamaConfig.fromJson(hf.config()), weights);
            default -> throw new IllegalArgumentException(dir.resolve("config.json") + ": model_type '" + type
                + "' is not supported for causal LM; supported: " + CAUSAL_LM_TYPES + " (and bert for encoders)");
        };
    }
}
