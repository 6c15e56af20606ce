package dev.lora4j.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A Hugging Face fast tokenizer (tokenizer.json), run by the Rust {@code tokenizers} library through DJL's
 * binding, so ids match Python's {@code AutoTokenizer} exactly.
 *
 * <p>Truncation is done by the native library (it knows how the post-processor's special tokens and sentence
 * pairs share the budget); padding is done here, with the pad token of tokenizer_config.json, so it never
 * depends on a padding section left in tokenizer.json. As in transformers, truncation and padding settings
 * stored inside tokenizer.json are ignored; only {@link Options} decides.
 *
 * <p><b>Native library, offline.</b> The {@code ai.djl.huggingface:tokenizers} jar on Maven Central contains
 * {@code native/lib/<os>-<arch>/cpu/libtokenizers.*} for linux-x86_64, linux-aarch64, osx-aarch64 and
 * win-x86_64. On first use DJL copies it to {@code ~/.djl.ai/tokenizers/<version>-cpu-<os>-<arch>/} (the
 * {@code DJL_CACHE_DIR} or {@code ENGINE_CACHE_DIR} variable/property moves that; java.io.tmpdir is used when
 * home is not writable) and loads it from there. DJL would download from publish.djl.ai only when it sees a
 * CUDA GPU (it then wants a "cu122" flavour, which the jar does not hold) and would call an EC2 telemetry
 * endpoint on AWS machines. This class therefore sets, before any DJL class initialises and only where the
 * user has not set them: {@code RUST_FLAVOR=cpu} (use the CPU library in the jar), {@code ai.djl.offline=true}
 * (DJL never opens a URL) and {@code OPT_OUT_TRACKING=true}. {@code RUST_LIBRARY_PATH} still points DJL at
 * another libtokenizers if wanted. These are JVM-wide system properties: another DJL engine in the same JVM
 * that needs downloads must have {@code ai.djl.offline=false} set before the first Tokenizer is created.
 *
 * <p>Thread-safe for encoding and decoding. Holds native memory: {@link #close()} it when done, and not while
 * another thread still uses it.
 */
public final class Tokenizer implements AutoCloseable {
    static {
        setIfUnset("RUST_FLAVOR", "cpu");
        setIfUnset("ai.djl.offline", "true");
        setIfUnset("OPT_OUT_TRACKING", "true");
    }

    private static void setIfUnset(String name, String value) {
        // DJL reads the environment variable first (DJL_OFFLINE for ai.djl.offline), then the property.
        String env = name.equals("ai.djl.offline") ? "DJL_OFFLINE" : name;
        if (System.getenv(env) == null && System.getProperty(name) == null) System.setProperty(name, value);
    }

    /** How sequences are padded. */
    public enum Padding {
        /** No padding (but {@link #encodeBatch} still pads to the longest sequence of the batch). */
        NONE,
        /** Pad every sequence of a batch to the longest one. */
        LONGEST,
        /** Pad every sequence to {@link Options#maxLength()}. */
        MAX_LENGTH
    }

    /** Where padding goes: RIGHT for training and classification, LEFT for batched generation. */
    public enum Side { RIGHT, LEFT }

    /**
     * Encoding options.
     *
     * @param addSpecialTokens add what the post-processor adds ([CLS]/[SEP] for BERT, &lt;s&gt; for Llama); default true
     * @param maxLength the length limit for truncation and MAX_LENGTH padding; 0 = none (the default)
     * @param truncation cut sequences longer than maxLength (longest-first for pairs); default true, only
     *     meaningful when maxLength &gt; 0
     * @param padding the padding strategy; default NONE
     * @param paddingSide where padding goes; default RIGHT
     * @param padToken overrides the tokenizer's pad token (e.g. the eos token for a Llama that has none); null = use the tokenizer's
     */
    public record Options(boolean addSpecialTokens, int maxLength, boolean truncation, Padding padding, Side paddingSide, String padToken) {
        public static final Options DEFAULT = new Options(true, 0, true, Padding.NONE, Side.RIGHT, null);

        public Options {
            Objects.requireNonNull(padding, "padding");
            Objects.requireNonNull(paddingSide, "paddingSide");
            if (maxLength < 0) throw new IllegalArgumentException("maxLength must be >= 0 (0 = no limit), got " + maxLength);
            if (padding == Padding.MAX_LENGTH && maxLength == 0) throw new IllegalArgumentException("padding MAX_LENGTH needs maxLength > 0");
        }

        public static Builder builder() {
            return new Builder(DEFAULT);
        }

        public Builder toBuilder() {
            return new Builder(this);
        }

        /** Builder for {@link Options}; starts from {@link #DEFAULT}. */
        public static final class Builder {
            private boolean addSpecialTokens;
            private int maxLength;
            private boolean truncation;
            private Padding padding;
            private Side paddingSide;
            private String padToken;

            private Builder(Options o) {
                addSpecialTokens = o.addSpecialTokens;
                maxLength = o.maxLength;
                truncation = o.truncation;
                padding = o.padding;
                paddingSide = o.paddingSide;
                padToken = o.padToken;
            }

            public Builder addSpecialTokens(boolean v) { addSpecialTokens = v; return this; }
            public Builder maxLength(int v) { maxLength = v; return this; }
            public Builder truncation(boolean v) { truncation = v; return this; }
            public Builder padding(Padding v) { padding = v; return this; }
            public Builder paddingSide(Side v) { paddingSide = v; return this; }
            public Builder padToken(String v) { padToken = v; return this; }

            public Options build() {
                return new Options(addSpecialTokens, maxLength, truncation, padding, paddingSide, padToken);
            }
        }
    }

    private final String name;
    private final String json;
    private final Options options;
    private final HuggingFaceTokenizer hf;
    private final TokenizerFiles.Vocab vocab;
    private final SpecialTokens special;
    private final TokenizerFiles.Config config;
    private final int padTypeId;

    private Tokenizer(String name, String json, TokenizerFiles.Vocab vocab, TokenizerFiles.Config config, SpecialTokens special,
                      int padTypeId, Options options) {
        this.name = name;
        this.json = json;
        this.options = Objects.requireNonNull(options, "options");
        this.config = config;
        this.special = special;
        this.padTypeId = padTypeId;
        this.hf = newNative(json, name, options);
        this.vocab = vocab.reconciled() ? vocab : vocab.reconcile(hf);
    }

    /** Loads a tokenizer.json file, with default options. */
    public static Tokenizer fromFile(Path tokenizerJson) {
        return fromFile(tokenizerJson, Options.DEFAULT);
    }

    /** Loads a tokenizer.json file. Special tokens then come from tokenizer.json alone (no bos/eos, no chat template). */
    public static Tokenizer fromFile(Path tokenizerJson, Options options) {
        String json = TokenizerFiles.readText(tokenizerJson, "tokenizer file");
        return fromJson(json, tokenizerJson.toAbsolutePath().toString(), TokenizerFiles.Config.NONE, options);
    }

    /** Loads tokenizer.json content held in memory (e.g. read from a jar resource); {@code name} appears in errors. */
    public static Tokenizer fromBytes(byte[] json, String name) {
        return fromBytes(json, name, Options.DEFAULT);
    }

    /** As {@link #fromBytes(byte[], String)}, with options. */
    public static Tokenizer fromBytes(byte[] json, String name, Options options) {
        return fromJson(new String(json, StandardCharsets.UTF_8), name, TokenizerFiles.Config.NONE, options);
    }

    /** Loads a Hugging Face model directory: tokenizer.json plus tokenizer_config.json (special tokens, chat template). */
    public static Tokenizer fromDirectory(Path modelDir) {
        return fromDirectory(modelDir, Options.DEFAULT);
    }

    /** As {@link #fromDirectory(Path)}, with options. */
    public static Tokenizer fromDirectory(Path modelDir, Options options) {
        if (!Files.isDirectory(modelDir)) throw new TokenizerException("model directory not found: " + modelDir.toAbsolutePath());
        Path file = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            String hint = Files.exists(modelDir.resolve("vocab.txt")) || Files.exists(modelDir.resolve("tokenizer.model"))
                    ? " (it has only slow-tokenizer files; save the tokenizer with transformers' AutoTokenizer to get tokenizer.json)" : "";
            throw new TokenizerException("no tokenizer.json in " + modelDir.toAbsolutePath() + hint);
        }
        TokenizerFiles.Config config = TokenizerFiles.readConfig(modelDir);
        return fromJson(TokenizerFiles.readText(file, "tokenizer file"), file.toAbsolutePath().toString(), config, options);
    }

    private static Tokenizer fromJson(String json, String name, TokenizerFiles.Config config, Options options) {
        JsonNode root = TokenizerFiles.parse(json, name);
        if (!root.isObject() || !root.path("model").isObject()) {
            throw new TokenizerException(name + " is not a tokenizer.json: it has no \"model\" object");
        }
        TokenizerFiles.Vocab vocab = TokenizerFiles.Vocab.of(root);
        SpecialTokens special = config.special().orElse(TokenizerFiles.inferSpecialTokens(root, vocab));
        int padTypeId = root.path("padding").path("pad_type_id").asInt(0);
        return new Tokenizer(name, json, vocab, config, special, padTypeId, options);
    }

    /** The same tokenizer with other options (a new native instance; this one stays usable). */
    public Tokenizer withOptions(Options newOptions) {
        return new Tokenizer(name, json, vocab, config, special, padTypeId, newOptions);
    }

    private static HuggingFaceTokenizer newNative(String json, String name, Options o) {
        Map<String, String> djl = new HashMap<>();
        djl.put("addSpecialTokens", String.valueOf(o.addSpecialTokens()));
        djl.put("padding", "false"); // padding is ours (see class doc)
        if (o.maxLength() > 0 && o.truncation()) {
            djl.put("truncation", "true"); // longest_first
            djl.put("maxLength", String.valueOf(o.maxLength()));
            djl.put("modelMaxLength", String.valueOf(o.maxLength())); // else DJL caps maxLength at 512
        } else {
            djl.put("truncation", "false"); // else DJL truncates to 512 by default
        }
        try {
            return HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), djl);
        } catch (IOException e) {
            throw new TokenizerException("cannot read " + name + ": " + e, e);
        } catch (ai.djl.engine.EngineException e) {
            throw new TokenizerException("cannot load the Hugging Face tokenizers native library (libtokenizers from the "
                    + "ai.djl.huggingface:tokenizers jar) for " + name + ": " + rootMessage(e), e);
        } catch (RuntimeException e) {
            throw new TokenizerException("Hugging Face tokenizers rejected " + name + ": " + rootMessage(e), e);
        }
    }

    private static String rootMessage(Throwable t) {
        StringBuilder b = new StringBuilder(String.valueOf(t.getMessage()));
        for (Throwable c = t.getCause(); c != null && c != t; t = c, c = c.getCause()) b.append(": ").append(c.getMessage());
        return b.toString();
    }

    /** Tokenizes one text; padded only with Padding.MAX_LENGTH. */
    public Encoding encode(String text) {
        Objects.requireNonNull(text, "text");
        return pad(convert(hf.encode(text)), options.padding() == Padding.MAX_LENGTH ? options.maxLength() : 0);
    }

    /** Tokenizes a sentence pair (BERT: [CLS] a [SEP] b [SEP], typeIds 0 for a's part, 1 for b's). */
    public Encoding encodePair(String a, String b) {
        Objects.requireNonNull(a, "a");
        Objects.requireNonNull(b, "b");
        return pad(convert(hf.encode(a, b)), options.padding() == Padding.MAX_LENGTH ? options.maxLength() : 0);
    }

    /** Tokenizes a batch, padded to the longest sequence (or to maxLength with Padding.MAX_LENGTH). */
    public List<Encoding> encodeBatch(List<String> texts) {
        if (texts.isEmpty()) return List.of();
        ai.djl.huggingface.tokenizers.Encoding[] raw = hf.batchEncode(texts.toArray(String[]::new));
        return padBatch(raw);
    }

    /** Tokenizes a batch of sentence pairs {@code (a[i], b[i])}, padded as {@link #encodeBatch}. */
    public List<Encoding> encodePairBatch(List<String> a, List<String> b) {
        if (a.size() != b.size()) throw new IllegalArgumentException("pair batch sizes differ: " + a.size() + " vs " + b.size());
        if (a.isEmpty()) return List.of();
        ai.djl.util.PairList<String, String> pairs = new ai.djl.util.PairList<>(new ArrayList<>(a), new ArrayList<>(b));
        return padBatch(hf.batchEncode(pairs));
    }

    private List<Encoding> padBatch(ai.djl.huggingface.tokenizers.Encoding[] raw) {
        List<Encoding> out = new ArrayList<>(raw.length);
        int longest = 0;
        for (ai.djl.huggingface.tokenizers.Encoding r : raw) {
            Encoding e = convert(r);
            out.add(e);
            longest = Math.max(longest, e.length());
        }
        int target = options.padding() == Padding.MAX_LENGTH ? Math.max(options.maxLength(), longest) : longest;
        out.replaceAll(e -> pad(e, target));
        return out;
    }

    private static Encoding convert(ai.djl.huggingface.tokenizers.Encoding e) {
        return new Encoding(toInt(e.getIds()), toInt(e.getAttentionMask()), toInt(e.getTypeIds()), e.getTokens(), e.exceedMaxLength());
    }

    private static int[] toInt(long[] a) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) r[i] = Math.toIntExact(a[i]);
        return r;
    }

    private Encoding pad(Encoding e, int target) {
        int n = e.length();
        if (n >= target) return e;
        String padToken = options.padToken() != null ? options.padToken() : special.pad();
        if (padToken == null) {
            throw new TokenizerException(name + " defines no pad token, so it cannot pad; set Options.padToken(...) "
                    + "(the eos token is the usual choice for decoder models)");
        }
        Integer padId = tokenId(padToken);
        if (padId == null) throw new TokenizerException("pad token '" + padToken + "' is not in the vocabulary of " + name);
        int[] ids = new int[target], mask = new int[target], types = new int[target];
        String[] tokens = new String[target];
        int at = options.paddingSide() == Side.LEFT ? target - n : 0;
        Arrays.fill(ids, padId);
        Arrays.fill(types, padTypeId);
        Arrays.fill(tokens, padToken);
        System.arraycopy(e.ids(), 0, ids, at, n);
        System.arraycopy(e.attentionMask(), 0, mask, at, n);
        System.arraycopy(e.typeIds(), 0, types, at, n);
        System.arraycopy(e.tokens(), 0, tokens, at, n);
        return new Encoding(ids, mask, types, tokens, e.truncated());
    }

    /** Ids back to text; with {@code skipSpecialTokens} the special tokens (and padding) are left out. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        String text = hf.decode(l, skipSpecialTokens);
        return config.cleanUpTokenizationSpaces() ? cleanUpTokenization(text) : text;
    }

    /** Ids back to text, special tokens included (transformers' default). */
    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /** transformers' clean_up_tokenization, applied when tokenizer_config.json asks for it. */
    private static String cleanUpTokenization(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    /** One more than the largest token id (model vocab and added tokens): the size an embedding table needs. */
    public int vocabSize() {
        return vocab.idToToken().length;
    }

    /** The id of a token string (vocabulary entry or added token), or null if it has none. */
    public Integer tokenId(String token) {
        return vocab.tokenToId().get(token);
    }

    /** The token string of an id, or null if the id is unused or out of range. */
    public String idToToken(int id) {
        return id >= 0 && id < vocab.idToToken().length ? vocab.idToToken()[id] : null;
    }

    public SpecialTokens specialTokens() {
        return special;
    }

    /** Id of the pad token ({@link Options#padToken()} if set), or null if there is none. */
    public Integer padTokenId() {
        return idOf(options.padToken() != null ? options.padToken() : special.pad());
    }

    public Integer eosTokenId() {
        return idOf(special.eos());
    }

    public Integer bosTokenId() {
        return idOf(special.bos());
    }

    public Integer unkTokenId() {
        return idOf(special.unk());
    }

    public Integer clsTokenId() {
        return idOf(special.cls());
    }

    public Integer sepTokenId() {
        return idOf(special.sep());
    }

    private Integer idOf(String token) {
        return token == null ? null : tokenId(token);
    }

    /** The chat template of tokenizer_config.json (or chat_template.jinja), with this tokenizer's bos/eos tokens. */
    public Optional<ChatTemplate> chatTemplate() {
        String t = config.chatTemplate();
        return t == null ? Optional.empty() : Optional.of(new ChatTemplate(t, special.bos(), special.eos()));
    }

    /** model_max_length from tokenizer_config.json, when it states a real limit. */
    public OptionalInt modelMaxLength() {
        Integer m = config.modelMaxLength();
        return m == null ? OptionalInt.empty() : OptionalInt.of(m);
    }

    public Options options() {
        return options;
    }

    /** The file (or name) this tokenizer was loaded from. */
    public String name() {
        return name;
    }

    @Override
    public void close() {
        hf.close();
    }

    @Override
    public String toString() {
        return "Tokenizer[" + name + ", vocab " + vocabSize() + "]";
    }
}
