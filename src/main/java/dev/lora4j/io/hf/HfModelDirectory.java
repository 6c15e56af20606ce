package dev.lora4j.io.hf;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lora4j.io.safetensors.SafetensorsDType;
import dev.lora4j.io.safetensors.ShardedSafetensors;
import dev.lora4j.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A Hugging Face model directory, as save_pretrained writes it (or a snapshot of the Hub cache, whose files are
 * symlinks into blobs/): config.json, the weights in model.safetensors or sharded through
 * model.safetensors.index.json, and the tokenizer's files.
 *
 * <p>{@link #open} reads and checks config.json only; weights are read when asked for.
 */
public final class HfModelDirectory {
    public static final String CONFIG_FILE = "config.json";
    public static final String GENERATION_CONFIG_FILE = "generation_config.json";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
    /**
     * The files that make up a tokenizer across the tokenizer classes of transformers (fast and slow, BPE,
     * WordPiece, SentencePiece, chat templates): what a merged model directory must carry along.
     */
    public static final List<String> TOKENIZER_FILE_NAMES = List.of(
            TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, "special_tokens_map.json", "added_tokens.json",
            "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
            "chat_template.jinja", "chat_template.json");

    /** Python's json.dump writes NaN and Infinity for such floats; accept what it writes. */
    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();
    private static final int LISTED_FILES = 30;

    private final Path dir;
    private final JsonNode config;

    private HfModelDirectory(Path dir, JsonNode config) {
        this.dir = dir;
        this.config = config;
    }

    /**
     * Opens a model directory and parses its config.json.
     *
     * @throws ModelDirectoryException if the directory does not exist, or config.json is missing, unreadable as
     *                                 UTF-8 JSON, or not a JSON object; the message names the file
     */
    public static HfModelDirectory open(Path dir) throws IOException {
        if (!Files.exists(dir)) throw new ModelDirectoryException("no such model directory: " + dir);
        if (!Files.isDirectory(dir)) {
            throw new ModelDirectoryException(dir + " is a file, but a model is a directory holding " + CONFIG_FILE
                    + " and safetensors weights");
        }
        Path file = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw new ModelDirectoryException(dir + " is not a Hugging Face model directory: it has no " + CONFIG_FILE
                    + " (" + contents(dir) + ")");
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new ModelDirectoryException(file + " is not UTF-8 text", e);
        }
        if (text.isBlank()) throw new ModelDirectoryException(file + " is empty; it should hold the model's JSON configuration");
        JsonNode config;
        try {
            config = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
            throw new ModelDirectoryException(file + " is not valid JSON" + where + ": " + e.getOriginalMessage(), e);
        }
        if (!config.isObject()) {
            throw new ModelDirectoryException(file + " must hold a JSON object, but holds " + article(config)
                    + " " + config.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
        }
        return new HfModelDirectory(dir, config);
    }

    public Path dir() {
        return dir;
    }

    /** The parsed config.json, an object. */
    public JsonNode config() {
        return config;
    }

    /**
     * config.json's "model_type" (llama, bert, gpt2, qwen2, ...), which says which architecture to build.
     *
     * @throws ModelDirectoryException if it is absent or not a string
     */
    public String modelType() throws ModelDirectoryException {
        JsonNode type = config.get("model_type");
        if (type == null || type.isNull()) {
            throw new ModelDirectoryException(dir.resolve(CONFIG_FILE) + " has no \"model_type\", so the architecture"
                    + " to build is unknown (transformers writes it, e.g. \"model_type\": \"llama\")"
                    + architecturesHint());
        }
        if (!type.isTextual() || type.textValue().isBlank()) {
            throw new ModelDirectoryException(dir.resolve(CONFIG_FILE) + " has \"model_type\": " + type
                    + ", expected a non-empty string such as \"llama\"");
        }
        return type.textValue();
    }

    private String architecturesHint() {
        JsonNode arch = config.get("architectures");
        return arch == null ? "" : "; its \"architectures\" is " + arch;
    }

    /** Whether the directory has weights lora4j reads: model.safetensors.index.json or model.safetensors. */
    public boolean hasWeights() {
        return Files.isRegularFile(dir.resolve(ShardedSafetensors.INDEX_FILE))
                || Files.isRegularFile(dir.resolve(ShardedSafetensors.SINGLE_FILE));
    }

    /**
     * Opens the weights (through the index when there is one) for reading tensor by tensor; the caller closes.
     *
     * @throws ModelDirectoryException if there are no safetensors weights; the message lists what is there
     */
    public ShardedSafetensors openWeights() throws IOException {
        if (!hasWeights()) {
            throw new ModelDirectoryException(dir + " has no weights lora4j can read: expected "
                    + ShardedSafetensors.SINGLE_FILE + " or " + ShardedSafetensors.INDEX_FILE + " (" + contents(dir)
                    + ")" + (hasAny("pytorch_model.bin", "pytorch_model.bin.index.json")
                    ? "; pytorch_model.bin must first be converted to safetensors" : ""));
        }
        return ShardedSafetensors.open(dir);
    }

    /**
     * Every F32/F16/BF16 weight as a tensor that stays in the memory-mapped file ({@link Tensor#mapped}): frozen
     * weights are read in place by the kernels, so loading costs no heap copy; a tensor that is written (trained
     * in full, or merged into) is widened onto the heap on first write. Integer buffers are skipped.
     */
    public Map<String, Tensor> mapTensors() throws IOException {
        ShardedSafetensors weights = ShardedSafetensors.openForModel(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (String name : weights.names()) {
            SafetensorsDType dtype = weights.info(name).dtype();
            if (dtype.toDType() != null) {
                long[] shape = weights.info(name).shape();
                int[] dims = new int[shape.length];
                for (int d = 0; d < dims.length; d++) dims[d] = Math.toIntExact(shape[d]);
                tensors.put(name, Tensor.mapped(weights.segment(name), dtype.toDType(), dev.lora4j.tensor.Shape.of(dims)));
            } else if (!dtype.isIntegral() && dtype != SafetensorsDType.U64) {
                throw new ModelDirectoryException(weights.path() + ": tensor \"" + name + "\" is " + dtype
                        + "; lora4j loads F32, F16 and BF16 weights (convert the checkpoint, or use the"
                        + " unquantized model)");
            }
        }
        return tensors;
    }

    /**
     * Every floating-point weight (F32, F16 or BF16) widened to F32, under the names the checkpoint uses, in the
     * sorted order of {@link ShardedSafetensors#names()}. Integer and bool tensors (buffers such as BERT's
     * position_ids) are left out: they are not weights.
     *
     * @throws ModelDirectoryException if there are no weights, or one is stored in a float type lora4j does not
     *                                 widen (F64, FP8)
     */
    public Map<String, Tensor> loadTensors() throws IOException {
        try (ShardedSafetensors weights = openWeights()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : weights.names()) {
                SafetensorsDType dtype = weights.info(name).dtype();
                if (dtype.toDType() != null) {
                    tensors.put(name, weights.tensor(name));
                } else if (!dtype.isIntegral() && dtype != SafetensorsDType.U64) {
                    throw new ModelDirectoryException(weights.path() + ": tensor \"" + name + "\" is " + dtype
                            + "; lora4j loads F32, F16 and BF16 weights (convert the checkpoint, or use the"
                            + " unquantized model)");
                }
            }
            return tensors;
        }
    }

    /** tokenizer.json, the fast tokenizer's whole definition, if present. */
    public Optional<Path> tokenizerJson() {
        return existing(TOKENIZER_FILE);
    }

    /** tokenizer_config.json (special tokens, chat_template, ...), if present. */
    public Optional<Path> tokenizerConfig() {
        return existing(TOKENIZER_CONFIG_FILE);
    }

    /** generation_config.json (eos ids, sampling defaults), if present. */
    public Optional<Path> generationConfig() {
        return existing(GENERATION_CONFIG_FILE);
    }

    /** The tokenizer files present, in {@link #TOKENIZER_FILE_NAMES} order: what a merged model copies along. */
    public List<Path> tokenizerFiles() {
        List<Path> files = new ArrayList<>();
        for (String name : TOKENIZER_FILE_NAMES) existing(name).ifPresent(files::add);
        return List.copyOf(files);
    }

    private Optional<Path> existing(String name) {
        Path p = dir.resolve(name);
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    private boolean hasAny(String... names) {
        for (String name : names) if (Files.exists(dir.resolve(name))) return true;
        return false;
    }

    /** "found: a, b/, c" (directories marked with a slash), or "it is empty". */
    static String contents(Path dir) {
        List<String> names;
        try (Stream<Path> entries = Files.list(dir)) {
            names = entries.map(p -> p.getFileName() + (Files.isDirectory(p) ? "/" : "")).sorted().toList();
        } catch (IOException e) {
            return "its contents could not be listed: " + e.getMessage();
        }
        if (names.isEmpty()) return "it is empty";
        if (names.size() <= LISTED_FILES) return "found: " + String.join(", ", names);
        return "found: " + String.join(", ", names.subList(0, LISTED_FILES)) + ", and " + (names.size() - LISTED_FILES)
                + " more";
    }

    private static String article(JsonNode node) {
        return switch (node.getNodeType()) {
            case ARRAY, OBJECT -> "an";
            default -> "a";
        };
    }

    @Override
    public String toString() {
        return "HfModelDirectory[" + dir + "]";
    }
}
