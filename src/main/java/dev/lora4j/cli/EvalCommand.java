package dev.lora4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.data.DatasetReader;
import dev.lora4j.data.DatasetSplits;
import dev.lora4j.data.LabelledText;
import dev.lora4j.data.Labels;
import dev.lora4j.data.Record;
import dev.lora4j.data.Task;
import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.tokenize.Tokenizer;
import dev.lora4j.train.CausalLmTraining;
import dev.lora4j.train.SentenceEmbeddings;
import dev.lora4j.train.SequenceClassification;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `lora4j eval`: a model, or the model with each of several adapters, measured on held-out data of any task:
 * causal LM (loss, perplexity, tokens), classification (loss, accuracy, per-class precision/recall), embedding
 * (retrieval accuracy@1, MRR).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = {"Evaluate a model, or the model with each --adapter in turn, on held-out data; the task follows the data:",
        "causal LM -> loss, perplexity, tokens; classification -> loss, accuracy, per-class precision/recall;",
        "embedding pairs -> retrieval accuracy@1 and MRR.",
        "Example: lora4j eval --adapter runs/minilm-topics-lora --data test.jsonl"})
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", description = "the base model: built-in name, Hugging Face directory or Hub id (default ${DEFAULT-VALUE})")
    String model = "all-MiniLM-L6-v2";

    @Option(names = "--adapter", description = {"an adapter directory written by train; repeat to compare several",
        "(none: the model itself; classification needs one, as it holds the trained classifier)"})
    List<Path> adapters = new ArrayList<>();

    @Option(names = "--data", required = true, description = "a .jsonl/.csv file, or a split directory (its test split, else valid)")
    Path data;

    @Option(names = "--max-seq-len", description = "default ${DEFAULT-VALUE}")
    int maxSeqLen = 128;

    @Option(names = "--batch-size", description = "default ${DEFAULT-VALUE}")
    int batchSize = 16;

    @Option(names = "--mask-prompt", description = "causal LM: score only completions / assistant turns, as train --mask-prompt")
    boolean maskPrompt;

    @Option(names = "--json", description = "print one JSON object per evaluation, the last line(s) of the output")
    boolean json;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        List<Record> records = records();
        Task task = DatasetReader.inferTask(records);
        List<Path> runs = adapters.isEmpty() ? java.util.Collections.singletonList(null) : adapters;
        List<Map<String, Object>> results = new ArrayList<>();
        for (Path adapter : runs) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", model);
            m.put("adapter", adapter == null ? null : adapter.toString());
            m.put("task", task.cliName());
            System.out.println(model + (adapter == null ? "" : " + " + adapter) + ":");
            switch (task) {
                case CLASSIFICATION -> classification(records, adapter, m);
                case CAUSAL_LM -> causalLm(records, adapter, m);
                case EMBEDDING -> embedding(records, adapter, m);
            }
            results.add(m);
        }
        if (json) for (Map<String, Object> m : results) System.out.println(JSON.writeValueAsString(m));
        return 0;
    }

    private List<Record> records() {
        if (!Files.isDirectory(data)) return DatasetReader.read(data);
        DatasetSplits splits = DatasetReader.readSplits(data);
        if (splits.hasTest()) return splits.test();
        if (splits.hasValid()) return splits.valid();
        throw new IllegalArgumentException(data + " has no test or valid split to evaluate on");
    }

    private void classification(List<Record> records, Path adapter, Map<String, Object> m) throws Exception {
        if (adapter == null) {
            throw new IllegalArgumentException(data + " is classification data: give the --adapter (or trained weights) that holds the classifier");
        }
        List<String> names = SequenceClassification.readLabels(adapter);
        Labels labels = names.isEmpty()
            ? Labels.fromRecords(records.stream().map(r -> (Record.Classification) r).toList()) : Labels.of(names);
        SequenceClassification task = new SequenceClassification(BertCheckpoint.load(model), labels.size(), maxSeqLen);
        SequenceClassification.Evaluation e = task.evaluate(task.loadTrained(adapter), LabelledText.of(records, labels));
        System.out.printf(Locale.ROOT, "  %d examples: loss %.4f, accuracy %.2f%%%n", e.examples(), e.loss(), 100 * e.accuracy());
        Map<String, Object> perClass = new LinkedHashMap<>();
        for (int c = 0; c < labels.size(); c++) {
            System.out.printf(Locale.ROOT, "    %-20s precision %.3f  recall %.3f%n", labels.name(c), e.precision()[c], e.recall()[c]);
            perClass.put(labels.name(c), Map.of("precision", e.precision()[c], "recall", e.recall()[c]));
        }
        m.put("examples", e.examples());
        m.put("loss", e.loss());
        m.put("accuracy", e.accuracy());
        m.put("per_class", perClass);
    }

    private void causalLm(List<Record> records, Path adapter, Map<String, Object> m) throws Exception {
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        CausalLanguageModel lm = PretrainedModels.causalLm(dir);
        if (adapter != null) PeftAdapterReader.load((dev.lora4j.nn.Module) lm, adapter, "default", 0);
        try (Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            CausalLmTraining.Evaluation e = new CausalLmTraining(lm, tok, model, maxSeqLen, maskPrompt, false).evaluate(records, batchSize);
            System.out.printf(Locale.ROOT, "  %d records, %d target tokens: loss %.4f, perplexity %.3f%n", records.size(), e.tokens(),
                e.loss(), e.perplexity());
            m.put("records", records.size());
            m.put("tokens", e.tokens());
            m.put("loss", e.loss());
            m.put("perplexity", e.perplexity());
        }
    }

    private void embedding(List<Record> records, Path adapter, Map<String, Object> m) throws Exception {
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        SentenceEmbeddings embeddings = adapter == null ? new SentenceEmbeddings(checkpoint, maxSeqLen)
            : SentenceEmbeddings.withAdapter(checkpoint, maxSeqLen, adapter);
        SentenceEmbeddings.Retrieval r = embeddings.retrieval(records.stream().map(x -> (Record.Pair) x).toList());
        System.out.printf(Locale.ROOT, "  %d pairs: retrieval accuracy@1 %.2f%%, MRR %.4f%n", records.size(), 100 * r.accuracyAt1(), r.mrr());
        m.put("pairs", records.size());
        m.put("accuracy_at_1", r.accuracyAt1());
        m.put("mrr", r.mrr());
    }
}
