package dev.lora4j.serve;

import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.model.Weights;
import dev.lora4j.model.bert.BertConfig;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraLayer;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Tiny models and adapters for the serving tests: fixture decoders with the tiny BPE tokenizer, random adapters. */
final class ServeFixtures {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");

    private ServeFixtures() {}

    /** A complete Hugging Face directory: the tiny fixture's config and weights, the tiny BPE tokenizer beside them. */
    static Path modelDir(Path tmp, String fixture) throws Exception {
        Path dir = tmp.resolve(fixture);
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors")) Files.copy(FIXTURES.resolve(fixture).resolve(f), dir.resolve(f));
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(Path.of("src/test/resources/tokenize/bpe").resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /**
     * Writes a Peft adapter for the model in {@code modelDir} with A and B drawn N(0, scale²), so that it really
     * changes what the model says.
     */
    static Path adapter(Path tmp, Path modelDir, String name, int r, String targets, long seed, double scale) throws Exception {
        CausalLanguageModel model = PretrainedModels.causalLm(modelDir);
        LoraModel lora = LoraModel.inject((Module) model, LoraConfig.of(r, 2 * r, targets), seed);
        randomize(lora, seed, scale);
        Path dir = tmp.resolve("adapters").resolve(name);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", modelDir.toString());
        return dir;
    }

    static void randomize(LoraModel lora, long seed, double scale) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (LoraLayer l : lora.loraLayers()) {
            for (Variable v : l.adapterParameters(lora.activeAdapter()).values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * scale);
            }
        }
    }

    static final String BERT_CONFIG = """
        {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": %d, "hidden_size": 32,
         "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
         "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12}
        """;

    /** A random tiny BERT directory (no pooler, like sentence-transformers exports) with the tiny WordPiece tokenizer. */
    static Path bertDir(Path tmp) throws Exception {
        Path dir = tmp.resolve("bert-tiny");
        Files.createDirectories(dir);
        Path tok = Path.of("src/test/resources/tokenize/wordpiece/tokenizer.json");
        int vocab;
        try (var t = dev.lora4j.tokenize.Tokenizer.fromFile(tok)) {
            vocab = t.vocabSize();
        }
        String config = BERT_CONFIG.formatted(vocab);
        BertModel m = new BertModel(BertConfig.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(config)),
            Weights.random(3, 0.2f), "", false);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        m.namedParameters().forEach((k, v) -> tensors.put(k, v.value()));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        Files.writeString(dir.resolve("config.json"), config);
        Files.copy(tok, dir.resolve("tokenizer.json"));
        return dir;
    }
}
