package dev.lora4j.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** Reading tokenizer.json and its neighbours (tokenizer_config.json, special_tokens_map.json, chat_template.*). */
final class TokenizerFiles {
    private TokenizerFiles() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    /** What tokenizer_config.json and friends add to tokenizer.json; every part may be absent. */
    record Config(SpecialTokens special, String chatTemplate, Integer modelMaxLength, boolean cleanUpTokenizationSpaces) {
        static final Config NONE = new Config(SpecialTokens.NONE, null, null, false);
    }

    /**
     * The vocabulary: the model's vocab plus added_tokens. {@code addedOnly} are the added tokens that are not in
     * the model's vocab, with the id tokenizer.json states; {@link #reconcile} checks those against the native
     * library, which assigns such tokens the next free ids itself and ignores the stated ones when they leave a gap.
     */
    record Vocab(Map<String, Integer> modelVocab, Map<String, Integer> addedOnly, Map<String, Integer> tokenToId,
                 String[] idToToken, boolean reconciled) {
        static Vocab of(JsonNode root) {
            Map<String, Integer> model = new HashMap<>();
            JsonNode vocab = root.path("model").path("vocab");
            if (vocab.isObject()) { // BPE, WordPiece, WordLevel: {"token": id}
                vocab.properties().forEach(e -> model.put(e.getKey(), e.getValue().asInt()));
            } else if (vocab.isArray()) { // Unigram: [["piece", score], ...], the id is the position
                for (int i = 0; i < vocab.size(); i++) model.put(vocab.get(i).path(0).asText(), i);
            }
            Map<String, Integer> added = new LinkedHashMap<>();
            for (JsonNode a : root.path("added_tokens")) {
                String content = a.path("content").asText();
                if (!model.containsKey(content)) added.put(content, a.path("id").asInt());
            }
            return build(model, added, false);
        }

        private static Vocab build(Map<String, Integer> model, Map<String, Integer> added, boolean reconciled) {
            Map<String, Integer> t2i = new HashMap<>(model);
            t2i.putAll(added);
            int max = -1;
            for (int id : t2i.values()) max = Math.max(max, id);
            String[] i2t = new String[max + 1];
            model.forEach((token, id) -> i2t[id] = token);
            added.forEach((token, id) -> i2t[id] = token);
            return new Vocab(model, added, Map.copyOf(t2i), i2t, reconciled);
        }

        /** Takes the ids of added tokens from the native tokenizer, so tokenId() always agrees with encode(). */
        Vocab reconcile(HuggingFaceTokenizer hf) {
            if (addedOnly.isEmpty()) return build(modelVocab, addedOnly, true);
            String[] contents = addedOnly.keySet().toArray(String[]::new);
            ai.djl.huggingface.tokenizers.Encoding[] enc = hf.batchEncode(contents, false, false);
            Map<String, Integer> fixed = new LinkedHashMap<>();
            for (int i = 0; i < contents.length; i++) {
                long[] ids = enc[i].getIds();
                fixed.put(contents[i], ids.length == 1 ? Math.toIntExact(ids[0]) : addedOnly.get(contents[i]));
            }
            return build(modelVocab, fixed, true);
        }
    }

    static String readText(Path file, String what) {
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new TokenizerException(what + " not found: " + file.toAbsolutePath());
        } catch (IOException e) {
            throw new TokenizerException("cannot read " + what + " " + file.toAbsolutePath() + ": " + e, e);
        }
    }

    /** Parses JSON, naming the file, line and column when it is malformed. */
    static JsonNode parse(String json, String name) {
        try {
            JsonNode node = JSON.readTree(json);
            if (node == null || node.isMissingNode()) throw new TokenizerException("malformed JSON in " + name + ": the file is empty");
            return node;
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            throw new TokenizerException("malformed JSON in " + name + where + ": " + e.getOriginalMessage(), e);
        }
    }

    /** Special tokens visible in tokenizer.json itself, for when no tokenizer_config.json says otherwise. */
    static SpecialTokens inferSpecialTokens(JsonNode root, Vocab vocab) {
        String unk = text(root.path("model").path("unk_token"));
        String pad = text(root.path("padding").path("pad_token"));
        String cls = null, sep = null;
        JsonNode post = root.path("post_processor");
        JsonNode processors = "Sequence".equals(post.path("type").asText()) ? post.path("processors") : JSON.createArrayNode().add(post);
        for (JsonNode p : processors) {
            String type = p.path("type").asText();
            if (type.equals("BertProcessing") || type.equals("RobertaProcessing")) {
                cls = text(p.path("cls").path(0));
                sep = text(p.path("sep").path(0));
            }
        }
        // BERT-family tokenizer.json files (the MiniLM one in the langchain4j jar among them) often carry a
        // TemplateProcessing post-processor and no padding section; their conventional names are unambiguous.
        Map<String, Integer> t2i = vocab.tokenToId();
        if (cls == null && t2i.containsKey("[CLS]")) cls = "[CLS]";
        if (sep == null && t2i.containsKey("[SEP]")) sep = "[SEP]";
        if (pad == null && t2i.containsKey("[PAD]")) pad = "[PAD]";
        if (unk == null && t2i.containsKey("[UNK]")) unk = "[UNK]";
        String mask = t2i.containsKey("[MASK]") ? "[MASK]" : null;
        return new SpecialTokens(null, null, pad, unk, cls, sep, mask);
    }

    /** Reads tokenizer_config.json, special_tokens_map.json and chat_template.{jinja,json} from a model directory. */
    static Config readConfig(Path dir) {
        SpecialTokens special = SpecialTokens.NONE;
        String template = null;
        Integer modelMaxLength = null;
        boolean cleanUp = false;
        Path configFile = dir.resolve("tokenizer_config.json");
        if (Files.isRegularFile(configFile)) {
            JsonNode c = parse(readText(configFile, "tokenizer config"), configFile.toString());
            special = specialTokens(c);
            template = chatTemplate(c.path("chat_template"), configFile);
            JsonNode max = c.path("model_max_length");
            // Tokenizers without a limit store 1e30 (int(1e30) in Python); that means "none".
            if (max.isNumber() && max.asDouble() > 0 && max.asDouble() <= Integer.MAX_VALUE) modelMaxLength = max.asInt();
            cleanUp = c.path("clean_up_tokenization_spaces").asBoolean(false);
        }
        Path mapFile = dir.resolve("special_tokens_map.json");
        if (Files.isRegularFile(mapFile)) {
            special = special.orElse(specialTokens(parse(readText(mapFile, "special tokens map"), mapFile.toString())));
        }
        // Newer transformers save the template beside the config; that file wins, as it does in transformers.
        Path jinja = dir.resolve("chat_template.jinja");
        Path templateJson = dir.resolve("chat_template.json");
        if (Files.isRegularFile(jinja)) {
            template = readText(jinja, "chat template");
        } else if (Files.isRegularFile(templateJson)) {
            template = chatTemplate(parse(readText(templateJson, "chat template"), templateJson.toString()).path("chat_template"), templateJson);
        }
        return new Config(special, template, modelMaxLength, cleanUp);
    }

    private static SpecialTokens specialTokens(JsonNode c) {
        return new SpecialTokens(token(c, "bos_token"), token(c, "eos_token"), token(c, "pad_token"), token(c, "unk_token"),
                token(c, "cls_token"), token(c, "sep_token"), token(c, "mask_token"));
    }

    /** A special token is written as "text" or as an AddedToken object {"content": "text", ...}. */
    private static String token(JsonNode config, String field) {
        JsonNode n = config.path(field);
        if (n.isTextual()) return n.asText();
        if (n.isObject()) return text(n.path("content"));
        return null;
    }

    /** chat_template is a string, or a list of {"name", "template"} of which "default" (else the first) is used. */
    private static String chatTemplate(JsonNode n, Path file) {
        if (n.isTextual()) return n.asText();
        if (n.isArray() && !n.isEmpty()) {
            for (JsonNode t : n) if ("default".equals(t.path("name").asText())) return t.path("template").asText();
            return n.get(0).path("template").asText();
        }
        if (n.isMissingNode() || n.isNull()) return null;
        throw new TokenizerException("chat_template in " + file + " is neither a string nor a list of {name, template}");
    }

    private static String text(JsonNode n) {
        return n.isTextual() ? n.asText() : null;
    }
}
