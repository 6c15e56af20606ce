package dev.lora4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Classification records become (text, label id) pairs under one label vocabulary; other records are refused. */
class LabelledTextTest {
    @Test
    void recordsToIds() {
        List<Record> records = List.of(new Record.Classification("good", "pos"), new Record.Classification("bad", "neg"),
            new Record.Classification("fine", "pos"));
        Labels labels = Labels.fromRecords(records.stream().map(r -> (Record.Classification) r).toList());
        List<LabelledText> out = LabelledText.of(records, labels);
        assertEquals(List.of(new LabelledText("good", labels.id("pos")), new LabelledText("bad", labels.id("neg")),
            new LabelledText("fine", labels.id("pos"))), out);
        assertEquals(List.of("neg", "pos"), labels.names(), "sorted label names");
        assertThrows(DatasetException.class, () -> LabelledText.of(List.of(new Record.Text("x")), labels));
    }
}
