package dev.lora4j.peft;

import java.util.ArrayList;
import java.util.List;

/**
 * Which adapter each row of one batched forward pass uses: contiguous row segments, each with its adapter;
 * rows in no segment (or in a segment with a null adapter) use the base model alone. Consecutive rows that ask
 * for the same adapter are one segment, so a batch ordered by adapter gives one segment per adapter.
 *
 * @param rows the number of rows of the batch these segments describe
 */
public record AdapterSegments(List<Segment> segments, int rows) {

    /** Rows [start, end) use {@code adapter}. */
    public record Segment(int start, int end, ServedAdapter adapter) {}

    public AdapterSegments {
        segments = List.copyOf(segments);
    }

    /** Builds segments from per-sequence row counts and adapters (null = base), merging equal neighbours. */
    public static AdapterSegments of(int[] lengths, ServedAdapter[] adapters) {
        List<Segment> out = new ArrayList<>();
        int row = 0;
        for (int i = 0; i < lengths.length; i++) {
            int end = row + lengths[i];
            ServedAdapter a = adapters[i];
            if (a != null) {
                Segment last = out.isEmpty() ? null : out.get(out.size() - 1);
                if (last != null && last.adapter() == a && last.end() == row) out.set(out.size() - 1, new Segment(last.start(), end, a));
                else out.add(new Segment(row, end, a));
            }
            row = end;
        }
        return new AdapterSegments(out, row);
    }
}
