package dev.lora4j.data;


import java.util.List;

/** One classification example: a text and the index of its label. */
public record LabelledText(String text, int label) {

    /** Classification records with their labels turned into ids by {@code labels}; other records are an error. */
    public static List<LabelledText> of(List<Record> records, Labels labels) {
        return records.stream().map(r -> {
            if (!(r instanceof Record.Classification c)) {
                throw new DatasetException("expected classification records (text and label), found " + r.format());
            }
            return new LabelledText(c.text(), labels.id(c.label()));
        }).toList();
    }
}
