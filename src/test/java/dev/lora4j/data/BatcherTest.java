package dev.lora4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.tokenize.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class BatcherTest {
    static final int X = CausalLmExample.IGNORE;
    static final int PAD = 0;

    static CausalLmExample ex(int[] ids, int[] labels) {
        return new CausalLmExample(ids, labels);
    }

    static CausalLmExample ex(int... ids) {
        return new CausalLmExample(ids, ids.clone());
    }

    @Test
    void padsRightAndShiftsLabels() {
        List<CausalLmBatch> bs = Batcher.batches(List.of(ex(11, 12, 13, 14), ex(new int[] {21, 22, 23}, new int[] {X, 22, 23})), 2, PAD, false, 0, 0, false);
        assertEquals(1, bs.size());
        CausalLmBatch b = bs.getFirst();
        assertEquals(2, b.batch());
        assertEquals(4, b.seq());
        assertArrayEquals(new int[] {11, 12, 13, 14, 21, 22, 23, PAD}, b.inputIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1, 0}, b.attentionMask());
        // labels[t] = target of position t = label of token t+1; last real position and padding -100
        assertArrayEquals(new int[] {12, 13, 14, X, 22, 23, X, X}, b.labels());
        assertEquals(5, b.targetCount());
    }

    @Test
    void lastBatchMayBeSmallerAndRowsAreCutToMaxSeqLen() {
        List<CausalLmBatch> bs = Batcher.batches(List.of(ex(1, 2, 3, 4, 5), ex(6, 7), ex(8, 9, 10)), 2, PAD, false, 3, 0, false);
        assertEquals(2, bs.size());
        assertArrayEquals(new int[] {1, 2, 3, 6, 7, PAD}, bs.get(0).inputIds());
        assertArrayEquals(new int[] {2, 3, X, 7, X, X}, bs.get(0).labels());
        assertEquals(1, bs.get(1).batch());
        assertArrayEquals(new int[] {8, 9, 10}, bs.get(1).inputIds());
    }

    @Test
    void packingMakesRowsOfExactlyMaxSeqLenKeepingEveryTokenInOrder() {
        List<CausalLmExample> exs = List.of(ex(new int[] {1, 2, 3}, new int[] {X, 2, 3}), ex(4, 5, 6, 7, 8), ex(9, 10), ex(11, 12, 13));
        List<CausalLmBatch> bs = Batcher.batches(exs, 2, PAD, true, 4, 0, false);
        // 13 tokens -> rows [1..4] [5..8] [9..12] [13 pad pad pad]
        assertEquals(2, bs.size());
        List<Integer> seen = new ArrayList<>();
        for (CausalLmBatch b : bs) {
            assertEquals(4, b.seq());
            for (int i = 0; i < b.inputIds().length; i++) if (b.attentionMask()[i] == 1) seen.add(b.inputIds()[i]);
        }
        assertEquals(IntStream.rangeClosed(1, 13).boxed().toList(), seen);
        assertArrayEquals(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, bs.get(0).inputIds());
        // per-example labels survive (the masked 1 is a target of nothing: position 0's target is 2)
        assertArrayEquals(new int[] {2, 3, 4, X, 6, 7, 8, X}, bs.get(0).labels());
        assertArrayEquals(new int[] {9, 10, 11, 12, 13, PAD, PAD, PAD}, bs.get(1).inputIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0, 0, 0}, bs.get(1).attentionMask());
        assertArrayEquals(new int[] {10, 11, 12, X, X, X, X, X}, bs.get(1).labels());
        // a masked prompt in the middle of a row stays masked
        CausalLmBatch mid = Batcher.batches(List.of(ex(1, 2), ex(new int[] {3, 4, 5}, new int[] {X, X, 5})), 1, PAD, true, 5, 0, false).getFirst();
        assertArrayEquals(new int[] {2, X, X, 5, X}, mid.labels());
        // a lone short final row is still padded to maxSeqLen
        assertEquals(8, Batcher.batches(List.of(ex(1, 2)), 4, PAD, true, 8, 0, false).getFirst().seq());
        assertThrows(IllegalArgumentException.class, () -> Batcher.batches(exs, 2, PAD, true, 0, 0, false));
    }

    @Test
    void shuffleIsASeededPermutation() {
        List<CausalLmExample> exs = IntStream.range(0, 20).mapToObj(i -> ex(100 + i)).toList();
        int[] a = firstTokens(Batcher.batches(exs, 3, PAD, false, 0, 42, true));
        int[] b = firstTokens(Batcher.batches(exs, 3, PAD, false, 0, 42, true));
        int[] c = firstTokens(Batcher.batches(exs, 3, PAD, false, 0, 7, true));
        int[] plain = firstTokens(Batcher.batches(exs, 3, PAD, false, 0, 42, false));
        assertArrayEquals(a, b);
        assertNotEquals(Arrays.toString(a), Arrays.toString(c));
        assertArrayEquals(IntStream.range(100, 120).toArray(), plain);
        assertArrayEquals(plain, Arrays.stream(a).sorted().toArray());
    }

    private static int[] firstTokens(List<CausalLmBatch> bs) {
        return bs.stream().flatMapToInt(b -> IntStream.range(0, b.batch()).map(i -> b.inputIds()[i * b.seq()])).toArray();
    }

    @Test
    void classificationBatchesPadAndLookUpLabels() throws Exception {
        Path res = Path.of(BatcherTest.class.getResource("/tokenize/wordpiece/tokenizer.json").toURI());
        try (Tokenizer bert = Tokenizer.fromFile(res)) {
            List<Record.Classification> recs = List.of(new Record.Classification("the cat", "pet"),
                    new Record.Classification("a dog sat on the mat", "animal"), new Record.Classification("hello", "pet"));
            Labels labels = Labels.fromRecords(recs);
            List<ClassificationBatch> bs = Batcher.classificationBatches(recs, bert, labels, 2, 6, 0, false);
            assertEquals(2, bs.size());
            ClassificationBatch b = bs.getFirst();
            assertEquals(6, b.seq()); // "a dog sat on the mat" = 8 tokens with [CLS]/[SEP], cut to 6
            assertArrayEquals(new int[] {2, 5, 6, 3, 0, 0, 2, 15, 14, 7, 8, 3}, b.inputIds());
            assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}, b.attentionMask());
            assertArrayEquals(new int[12], b.typeIds());
            assertArrayEquals(new int[] {1, 0}, b.labels()); // animal=0, pet=1
            assertArrayEquals(new int[] {2, 17, 3}, bs.get(1).inputIds());
            DatasetException e = assertThrows(DatasetException.class,
                    () -> Batcher.classificationBatches(List.of(new Record.Classification("x", "plant")), bert, labels, 2, 0, 0, false));
            assertTrue(e.getMessage().contains("unknown label 'plant'"), e.getMessage());
        }
    }
}
