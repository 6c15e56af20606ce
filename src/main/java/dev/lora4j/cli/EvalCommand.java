package dev.lora4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.data.DatasetReader;
import dev.lora4j.data.Labels;
import dev.lora4j.data.LabelledText;
import dev.lora4j.data.Record;
import dev.lora4j.data.Task;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.train.SequenceClassification;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j eval`: a trained classification adapter measured on labelled data. */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = {"Evaluate a classification adapter: loss, accuracy, per-class precision and recall.",
        "Example: lora4j eval --adapter runs/minilm-topics-lora --data test.jsonl"})
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", description = "the adapter's base model (default ${DEFAULT-VALUE})")
    String model = "all-MiniLM-L6-v2";

    @Option(names = "--adapter", required = true, description = "adapter directory written by train")
    Path adapter;

    @Option(names = "--data", required = true, description = "a .jsonl or .csv file of text and label records")
    Path data;

    @Option(names = "--max-seq-len", description = "default ${DEFAULT-VALUE}")
    int maxSeqLen = 128;

    @Option(names = "--json", description = "print a JSON summary as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<Record> records = DatasetReader.read(data);
        if (DatasetReader.inferTask(records) != Task.CLASSIFICATION) {
            System.err.println("lora4j eval: " + data + " is not classification data; only classification evaluates today (issue 4)");
            return 2;
        }
        List<String> names = SequenceClassification.readLabels(adapter);
        Labels labels = names.isEmpty()
            ? Labels.fromRecords(records.stream().map(r -> (Record.Classification) r).toList()) : Labels.of(names);
        SequenceClassification task = new SequenceClassification(BertCheckpoint.load(model), labels.size(), maxSeqLen);
        SequenceClassification.Evaluation e = task.evaluate(task.loadTrained(adapter), LabelledText.of(records, labels));
        System.out.printf(Locale.ROOT, "%d examples: loss %.4f, accuracy %.2f%%%n", e.examples(), e.loss(), 100 * e.accuracy());
        for (int c = 0; c < labels.size(); c++) {
            System.out.printf(Locale.ROOT, "  %-20s precision %.3f  recall %.3f%n", labels.name(c), e.precision()[c], e.recall()[c]);
        }
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("examples", e.examples());
            m.put("loss", e.loss());
            m.put("accuracy", e.accuracy());
            Map<String, Object> perClass = new LinkedHashMap<>();
            for (int c = 0; c < labels.size(); c++) perClass.put(labels.name(c), Map.of("precision", e.precision()[c], "recall", e.recall()[c]));
            m.put("per_class", perClass);
            System.out.println(new ObjectMapper().writeValueAsString(m));
        }
        return 0;
    }
}
