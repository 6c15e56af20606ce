package dev.lora4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class LabelsTest {
    @Test
    void stringLabelsAreSortedAndNumbered() {
        Labels l = Labels.fromLabels(List.of("pos", "neg", "neutral", "pos"));
        assertEquals(List.of("neg", "neutral", "pos"), l.names());
        assertEquals(0, l.id("neg"));
        assertEquals(2, l.id("pos"));
        assertEquals("neutral", l.name(1));
        assertEquals(3, l.size());
    }

    @Test
    void integerLabelsZeroToNKeepTheirValues() {
        Labels l = Labels.fromRecords(List.of(new Record.Classification("a", "2"), new Record.Classification("b", "0"),
                new Record.Classification("c", "10"), new Record.Classification("d", "1"), new Record.Classification("e", "3"),
                new Record.Classification("f", "4"), new Record.Classification("g", "5"), new Record.Classification("h", "6"),
                new Record.Classification("i", "7"), new Record.Classification("j", "8"), new Record.Classification("k", "9")));
        for (int i = 0; i <= 10; i++) assertEquals(i, l.id(String.valueOf(i)));
        // Non-contiguous integers: numeric order, not string order ("10" after "9").
        Labels gaps = Labels.fromLabels(List.of("10", "9", "-1"));
        assertEquals(List.of("-1", "9", "10"), gaps.names());
        assertEquals(2, gaps.id("10"));
    }

    @Test
    void unknownLabelIsAClearError() {
        Labels l = Labels.fromLabels(List.of("cat", "dog"));
        DatasetException e = assertThrows(DatasetException.class, () -> l.id("bird"));
        assertTrue(e.getMessage().contains("unknown label 'bird'") && e.getMessage().contains("[cat, dog]"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> l.name(2));
        assertEquals(List.of("sports", "cooking", "technology", "weather"), Labels.of(TopicsDataset.LABELS).names());
        assertEquals(1, Labels.of(TopicsDataset.LABELS).id("cooking"));
    }
}
