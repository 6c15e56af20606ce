package dev.lora4j.data;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Reads dataset files (JSONL or CSV) into {@link Record}s, and a dataset directory into {@link DatasetSplits}.
 *
 * <p>JSONL: one JSON object per line, blank lines skipped, keys that identify the format (checked in this
 * order, extra keys ignored as MLX-LM does): {@code messages}; {@code prompt}+{@code completion};
 * {@code anchor}+{@code positive}[+{@code negative}]; {@code text}+{@code label}; {@code text}. CSV: a header
 * row naming the same columns (text[,label] | prompt,completion | anchor,positive[,negative]); chat data has
 * no CSV form. Every record of a file must have the format of its first one. Errors are
 * {@link DatasetException}s of the form {@code file:line: what was expected; what was found}.
 */
public final class DatasetReader {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final String EXPECTED = "expected an object with \"text\", or \"prompt\" and \"completion\", or \"messages\", "
            + "or \"text\" and \"label\", or \"anchor\" and \"positive\"";
    private static final String[] SPLIT_EXTENSIONS = {".jsonl", ".csv"};

    private DatasetReader() {}

    /** Reads one .jsonl or .csv file. */
    public static List<Record> read(Path file) {
        String name = file.getFileName().toString();
        String lower = name.toLowerCase(Locale.ROOT);
        String text = readText(file);
        List<Record> records;
        if (lower.endsWith(".jsonl")) records = readJsonl(text, name);
        else if (lower.endsWith(".csv")) records = readCsv(text, name);
        else throw new DatasetException(file + ": unsupported dataset file; expected a .jsonl or .csv file");
        if (records.isEmpty()) throw new DatasetException(file + ": holds no records");
        return records;
    }

    /**
     * Reads {@code --data}: a file is the train split only; a directory must hold train.jsonl (or train.csv) and
     * may hold valid.* and test.*. All splits must have the same record format.
     */
    public static DatasetSplits readSplits(Path fileOrDir) {
        if (!Files.exists(fileOrDir)) throw new DatasetException(fileOrDir + ": no such file or directory");
        if (!Files.isDirectory(fileOrDir)) return new DatasetSplits(read(fileOrDir), List.of(), List.of());
        Path train = split(fileOrDir, "train");
        if (train == null) {
            throw new DatasetException(fileOrDir + ": a dataset directory needs train.jsonl (or train.csv), and may have "
                    + "valid.jsonl and test.jsonl; found " + listing(fileOrDir));
        }
        List<Record> trainRecords = read(train);
        List<Record> valid = readOptional(fileOrDir, "valid", trainRecords, train);
        List<Record> test = readOptional(fileOrDir, "test", trainRecords, train);
        return new DatasetSplits(trainRecords, valid, test);
    }

    /** text, prompt/completion and chat train a causal LM; text/label classification; anchor/positive embeddings. */
    public static Task inferTask(List<? extends Record> records) {
        if (records.isEmpty()) throw new DatasetException("cannot infer the task from an empty dataset");
        return switch (records.getFirst()) {
            case Record.Text t -> Task.CAUSAL_LM;
            case Record.PromptCompletion p -> Task.CAUSAL_LM;
            case Record.Chat c -> Task.CAUSAL_LM;
            case Record.Classification c -> Task.CLASSIFICATION;
            case Record.Pair p -> Task.EMBEDDING;
        };
    }

    private static List<Record> readOptional(Path dir, String split, List<Record> train, Path trainFile) {
        Path p = split(dir, split);
        if (p == null) return List.of();
        List<Record> records = read(p);
        Record.Format want = train.getFirst().format(), got = records.getFirst().format();
        if (want != got) {
            throw new DatasetException(p + ": records are " + got.description() + " but " + trainFile.getFileName()
                    + " has " + want.description() + "; all splits must have the same format");
        }
        return records;
    }

    private static Path split(Path dir, String name) {
        Path found = null;
        for (String ext : SPLIT_EXTENSIONS) {
            Path p = dir.resolve(name + ext);
            if (Files.isRegularFile(p)) {
                if (found != null) throw new DatasetException(dir + ": both " + found.getFileName() + " and " + p.getFileName() + " exist; keep one");
                found = p;
            }
        }
        return found;
    }

    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString() + (Files.isDirectory(p) ? "/" : "")).sorted().toList();
            return names.isEmpty() ? "an empty directory" : names.toString();
        } catch (IOException e) {
            return "(cannot list: " + e.getMessage() + ")";
        }
    }

    private static String readText(Path file) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            // Strict decoding: a file in another encoding should fail loudly, not train on mojibake.
            String s = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            return s.startsWith("\uFEFF") ? s.substring(1) : s; // BOM written by some Windows tools
        } catch (CharacterCodingException e) {
            throw new DatasetException(file + ": not valid UTF-8", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    // ---- JSONL ----

    private static List<Record> readJsonl(String text, String file) {
        List<Record> out = new ArrayList<>();
        Record.Format format = null;
        int firstLine = 0;
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.isBlank()) continue;
            int lineNo = i + 1;
            String where = file + ":" + lineNo + ": ";
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JacksonException e) {
                throw new DatasetException(where + "invalid JSON: " + e.getOriginalMessage(), e);
            }
            if (node == null || !node.isObject()) {
                throw new DatasetException(where + EXPECTED + "; found " + (node == null ? "nothing" : "a JSON " + node.getNodeType().name().toLowerCase(Locale.ROOT)));
            }
            Record r = fromJson(node, where);
            if (format == null) {
                format = r.format();
                firstLine = lineNo;
            } else if (r.format() != format) {
                throw new DatasetException(where + "expected a " + format.description() + " record like line " + firstLine
                        + " (every record of a file must have the same format); found " + r.format().description());
            }
            out.add(r);
        }
        return out;
    }

    private static Record fromJson(JsonNode o, String where) {
        if (o.has("messages")) return chat(o.get("messages"), where);
        if (o.has("prompt") && o.has("completion")) {
            return new Record.PromptCompletion(string(o, "prompt", where), string(o, "completion", where));
        }
        if (o.has("anchor") && o.has("positive")) {
            JsonNode neg = o.get("negative");
            return new Record.Pair(string(o, "anchor", where), string(o, "positive", where),
                    neg == null || neg.isNull() ? null : string(o, "negative", where));
        }
        if (o.has("text") && o.has("label")) {
            JsonNode l = o.get("label");
            String label;
            if (l.isTextual()) label = l.asText();
            else if (l.isIntegralNumber()) label = l.bigIntegerValue().toString();
            else throw new DatasetException(where + "\"label\" must be a string or an integer; found " + describe(l));
            return new Record.Classification(string(o, "text", where), label);
        }
        if (o.has("text")) return new Record.Text(string(o, "text", where));
        List<String> keys = new ArrayList<>();
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) keys.add(it.next());
        throw new DatasetException(where + EXPECTED + "; found keys " + keys);
    }

    private static Record.Chat chat(JsonNode messages, String where) {
        if (!messages.isArray() || messages.isEmpty()) {
            throw new DatasetException(where + "\"messages\" must be a non-empty array of {\"role\", \"content\"} objects; found " + describe(messages));
        }
        List<ChatMessage> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String at = where + "messages[" + i + "]: ";
            if (!m.isObject()) throw new DatasetException(at + "expected an object with \"role\" and \"content\"; found " + describe(m));
            out.add(new ChatMessage(string(m, "role", at), string(m, "content", at)));
        }
        return new Record.Chat(out);
    }

    private static String string(JsonNode o, String key, String where) {
        JsonNode v = o.get(key);
        if (v == null) throw new DatasetException(where + "missing \"" + key + "\"");
        if (!v.isTextual()) throw new DatasetException(where + "\"" + key + "\" must be a string; found " + describe(v));
        return v.asText();
    }

    private static String describe(JsonNode v) {
        String s = v.toString();
        return v.getNodeType().name().toLowerCase(Locale.ROOT) + " " + (s.length() > 60 ? s.substring(0, 57) + "..." : s);
    }

    // ---- CSV ----

    private static List<Record> readCsv(String text, String file) {
        List<Csv.Row> rows = Csv.parse(text, file);
        if (rows.isEmpty()) return List.of();
        Csv.Row header = rows.getFirst();
        List<String> cols = header.fields().stream().map(s -> s.trim().toLowerCase(Locale.ROOT)).toList();
        int text_ = cols.indexOf("text"), label = cols.indexOf("label"), prompt = cols.indexOf("prompt"),
                completion = cols.indexOf("completion"), anchor = cols.indexOf("anchor"), positive = cols.indexOf("positive"),
                negative = cols.indexOf("negative");
        Record.Format format;
        if (prompt >= 0 && completion >= 0) format = Record.Format.PROMPT_COMPLETION;
        else if (anchor >= 0 && positive >= 0) format = Record.Format.PAIR;
        else if (text_ >= 0 && label >= 0) format = Record.Format.CLASSIFICATION;
        else if (text_ >= 0) format = Record.Format.TEXT;
        else {
            throw new DatasetException(file + ":" + header.line() + ": expected a header row with columns text, or prompt,completion, "
                    + "or text,label, or anchor,positive[,negative]; found " + header.fields());
        }
        List<Record> out = new ArrayList<>(rows.size() - 1);
        for (Csv.Row row : rows.subList(1, rows.size())) {
            List<String> f = row.fields();
            if (f.stream().allMatch(String::isBlank)) continue;
            if (f.size() != cols.size()) {
                throw new DatasetException(file + ":" + row.line() + ": expected " + cols.size() + " fields as in the header "
                        + header.fields() + "; found " + f.size() + " (quote fields that contain commas)");
            }
            out.add(switch (format) {
                case PROMPT_COMPLETION -> new Record.PromptCompletion(f.get(prompt), f.get(completion));
                case PAIR -> new Record.Pair(f.get(anchor), f.get(positive), negative < 0 || f.get(negative).isEmpty() ? null : f.get(negative));
                case CLASSIFICATION -> new Record.Classification(f.get(text_), f.get(label).trim());
                case TEXT -> new Record.Text(f.get(text_));
                case CHAT -> throw new AssertionError();
            });
        }
        return out;
    }
}
