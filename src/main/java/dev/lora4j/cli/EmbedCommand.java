package dev.lora4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.train.SentenceEmbeddings;
import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j embed`: sentence embeddings, one JSON array per input line. */
@Command(name = "embed", mixinStandardHelpOptions = true,
    description = {"Sentence embeddings (mean pooling + L2 norm, as sentence-transformers) of each input line.",
        "Example: lora4j embed --input texts.txt --out vectors.jsonl [--adapter runs/my-embedding-lora]"})
final class EmbedCommand implements Callable<Integer> {
    @Option(names = "--model", description = "BERT-family model: built-in name, directory or Hub id (default ${DEFAULT-VALUE})")
    String model = "all-MiniLM-L6-v2";

    @Option(names = "--adapter", description = "a LoRA adapter trained by train on pair data (default: the model as it is)")
    Path adapter;

    @Option(names = "--input", required = true, description = "a .txt file (one text per line) or a .jsonl file of {\"text\": ...}")
    Path input;

    @Option(names = "--out", description = "output .jsonl (default: standard output)")
    Path out;

    @Option(names = "--batch-size", description = "default ${DEFAULT-VALUE}")
    int batchSize = 32;

    @Option(names = "--max-seq-len", description = "default ${DEFAULT-VALUE}")
    int maxSeqLen = 256;

    @Override
    public Integer call() throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<String> texts = new ArrayList<>();
        int lineNo = 0;
        for (String line : Files.readAllLines(input, StandardCharsets.UTF_8)) {
            lineNo++;
            if (line.isBlank()) continue;
            if (input.toString().endsWith(".jsonl")) {
                var node = json.readTree(line);
                if (node == null || !node.hasNonNull("text")) {
                    throw new IllegalArgumentException(input + ":" + lineNo + ": expected an object with \"text\"");
                }
                texts.add(node.get("text").asText());
            } else {
                texts.add(line);
            }
        }
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        SentenceEmbeddings embeddings = adapter == null ? new SentenceEmbeddings(checkpoint, maxSeqLen)
            : SentenceEmbeddings.withAdapter(checkpoint, maxSeqLen, adapter);
        List<float[]> vectors = embeddings.embed(texts, batchSize);
        try (Writer w = out == null ? new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8))
                : Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            for (float[] v : vectors) {
                w.write(json.writeValueAsString(v));
                w.write('\n');
            }
        }
        if (out != null) System.err.println("wrote " + vectors.size() + " embeddings to " + out);
        return 0;
    }
}
