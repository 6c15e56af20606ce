package dev.lora4j.data;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The label vocabulary of a classification dataset: label string to class id and back.
 *
 * <p>Built from the training labels: when they are exactly the integers 0..n-1 the integers are the ids (the
 * data already says which class is which, as Hugging Face datasets with ClassLabel do); other integer labels
 * are sorted numerically, anything else lexicographically, and numbered in that order, so the mapping depends
 * only on the set of labels, never on record order. The mapping is what a checkpoint must store as
 * id2label/label2id.
 */
public final class Labels {
    private final List<String> names;
    private final Map<String, Integer> ids;

    private Labels(List<String> names) {
        this.names = List.copyOf(names);
        this.ids = new LinkedHashMap<>();
        for (int i = 0; i < this.names.size(); i++) {
            if (ids.put(this.names.get(i), i) != null) throw new IllegalArgumentException("duplicate label '" + this.names.get(i) + "'");
        }
    }

    /** The labels in id order, as given (e.g. id2label of a checkpoint, or {@link TopicsDataset#LABELS}). */
    public static Labels of(List<String> namesInIdOrder) {
        if (namesInIdOrder.isEmpty()) throw new IllegalArgumentException("no labels");
        return new Labels(namesInIdOrder);
    }

    /** The vocabulary of the labels of these records (see class doc). */
    public static Labels fromRecords(Collection<Record.Classification> records) {
        return fromLabels(records.stream().map(Record.Classification::label).toList());
    }

    /** The vocabulary of these label strings (see class doc). */
    public static Labels fromLabels(Collection<String> labels) {
        if (labels.isEmpty()) throw new DatasetException("cannot build a label vocabulary from no labels");
        TreeSet<String> distinct = new TreeSet<>(labels);
        boolean allIntegers = distinct.stream().allMatch(s -> s.matches("-?\\d+"));
        if (!allIntegers) return new Labels(new ArrayList<>(distinct));
        // Parse so "01" and "1" do not silently become two classes, and sort numerically ("10" after "9").
        TreeSet<BigInteger> values = new TreeSet<>();
        for (String s : distinct) {
            if (!values.add(new BigInteger(s))) {
                throw new DatasetException("labels '" + s + "' and another spelling of the same integer both occur; write integer labels one way");
            }
        }
        // Numeric order: when the labels are exactly 0..n-1 this puts value v at index v, so the ids are the values.
        return new Labels(values.stream().map(BigInteger::toString).toList());
    }

    /** Number of classes. */
    public int size() {
        return names.size();
    }

    /** Label names in id order. */
    public List<String> names() {
        return names;
    }

    /** The label of class {@code id}. */
    public String name(int id) {
        if (id < 0 || id >= names.size()) throw new IndexOutOfBoundsException("class id " + id + " is not in 0.." + (names.size() - 1));
        return names.get(id);
    }

    /** True if {@code label} is known. */
    public boolean contains(String label) {
        return ids.containsKey(label);
    }

    /**
     * The id of {@code label}.
     *
     * @throws DatasetException for a label not seen in training (e.g. only in valid.jsonl), naming the known ones
     */
    public int id(String label) {
        Integer id = ids.get(label);
        if (id == null && label != null && label.strip().matches("-?\\d+")) id = ids.get(new BigInteger(label.strip()).toString());
        if (id == null) {
            throw new DatasetException("unknown label '" + label + "': the training data has " + names.size() + " labels " + abbreviated());
        }
        return id;
    }

    private String abbreviated() {
        return names.size() <= 20 ? names.toString() : names.subList(0, 20) + " (and " + (names.size() - 20) + " more)";
    }

    @Override
    public String toString() {
        return "Labels" + names;
    }
}
