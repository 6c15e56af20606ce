package dev.lora4j.data;

import java.util.List;

/** The splits of a dataset; {@code valid} and {@code test} are empty lists when the data has none. */
public record DatasetSplits(List<Record> train, List<Record> valid, List<Record> test) {
    public DatasetSplits {
        train = List.copyOf(train);
        valid = List.copyOf(valid);
        test = List.copyOf(test);
    }

    public boolean hasValid() {
        return !valid.isEmpty();
    }

    public boolean hasTest() {
        return !test.isEmpty();
    }

    /** The task these records train ({@link DatasetReader#inferTask}). */
    public Task inferTask() {
        return DatasetReader.inferTask(train);
    }
}
