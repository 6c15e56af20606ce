package dev.lora4j.serve;

import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertForSequenceClassification;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.train.SentenceEmbeddings;
import dev.lora4j.train.SequenceClassification;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Embeddings and classification for a server whose base is a BERT-family encoder: sentence embeddings of the
 * base (sentence-transformers semantics), and classification adapters (LoRA plus their trained head, as
 * `lora4j train` writes them) kept in an LRU registry. Encoder requests are short: they run on the calling
 * thread, one at a time.
 */
public final class EncoderService {
    /** A classification adapter rebuilt on the base, with its label names. */
    public record Classifier(BertForSequenceClassification model, SequenceClassification task, List<String> labels) {}

    private final String name;
    private final BertCheckpoint checkpoint;
    private final SentenceEmbeddings embeddings;
    private final AdapterRegistry<Classifier> registry;
    private final int maxSeqLen;

    public EncoderService(String name, BertCheckpoint checkpoint, int maxAdapters, int maxSeqLen, ServeMetrics metrics) {
        this.name = name;
        this.checkpoint = checkpoint;
        this.maxSeqLen = maxSeqLen;
        this.embeddings = new SentenceEmbeddings(checkpoint, maxSeqLen);
        this.registry = new AdapterRegistry<>(this::readClassifier, maxAdapters);
        metrics.gauge("adapter_cache_hits_total", registry::hits);
        metrics.gauge("adapter_cache_misses_total", registry::misses);
        metrics.gauge("adapter_cache_evictions_total", registry::evictions);
        metrics.gauge("adapters_in_memory", registry::inMemory);
    }

    public String name() {
        return name;
    }

    public AdapterRegistry<Classifier> registry() {
        return registry;
    }

    public synchronized List<float[]> embed(String modelName, List<String> texts) {
        if (!modelName.equals(name)) {
            if (registry.contains(modelName)) throw ApiException.badRequest("'" + modelName + "' is a classification adapter; use /v1/classify");
            throw ApiException.modelNotFound(modelName);
        }
        return embeddings.embed(texts, 32);
    }

    /** Class probabilities per text and the classifier's label names. */
    public synchronized ClassifyResult classify(String modelName, List<String> texts) throws IOException {
        if (modelName.equals(name)) throw ApiException.badRequest("'" + name + "' is the base model; classify with a classification adapter");
        Classifier c = registry.acquire(modelName);
        return new ClassifyResult(c.task().probabilities(c.model(), texts), c.labels());
    }

    public record ClassifyResult(float[][] probabilities, List<String> labels) {}

    private Classifier readClassifier(String adapterName, Path dir) throws IOException {
        List<String> labels = SequenceClassification.readLabels(dir);
        int numLabels = labels.isEmpty() ? headRows(dir) : labels.size();
        SequenceClassification task = new SequenceClassification(checkpoint, numLabels, maxSeqLen);
        BertForSequenceClassification model = task.loadTrained(dir);
        if (labels.isEmpty()) {
            List<String> generic = new ArrayList<>();
            for (int i = 0; i < numLabels; i++) generic.add("LABEL_" + i);
            labels = generic;
        }
        return new Classifier(model, task, labels);
    }

    /** The number of classes, from the classifier weight saved with the adapter (modules_to_save). */
    private static int headRows(Path dir) throws IOException {
        Path file = dir.resolve(PeftAdapterWriter.WEIGHTS_FILE);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String key : f.names()) {
                if (key.endsWith("classifier.weight")) return (int) f.info(key).shape()[0];
            }
        }
        throw new IllegalArgumentException(file + ": no classifier.weight; not a classification adapter (train one with `lora4j train`)");
    }
}
