package dev.lora4j.data;

import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Groups tokenized examples into batches: optional seeded shuffle, right padding or packing, and the shift of
 * causal-LM labels into next-token targets (see {@link CausalLmBatch}).
 */
public final class Batcher {
    private Batcher() {}

    /**
     * Causal-LM batches. The examples are first shuffled with {@code seed} when {@code shuffle} is set.
     *
     * <p>Without packing: {@code batchSize} examples per batch (the last batch may be smaller), each cut to
     * {@code maxSeqLen} (0 = no limit), right-padded with {@code padId} to the longest row of the batch.
     *
     * <p>With packing: all examples are concatenated as they are (each already ends with EOS) and cut into rows
     * of exactly {@code maxSeqLen} tokens; an example may continue on the next row, and only the final row is
     * padded. As in MLX-LM's simple packing there is no block-diagonal mask: attention spans the examples that
     * share a row, so a token may attend to the previous (unrelated) example; the EOS between them is what tells
     * the model a new text starts. Each example keeps its own labels (prompt masks survive packing).
     *
     * <p>Either way, row labels are then shifted left by one: target(t) = label(t+1), and the last real position
     * of each row gets -100.
     */
    public static List<CausalLmBatch> batches(List<CausalLmExample> examples, int batchSize, int padId, boolean pack,
                                              int maxSeqLen, long seed, boolean shuffle) {
        if (batchSize <= 0) throw new IllegalArgumentException("batchSize must be > 0, got " + batchSize);
        if (maxSeqLen < 0 || (pack && maxSeqLen == 0)) {
            throw new IllegalArgumentException("maxSeqLen must be > 0 with packing (>= 0 without), got " + maxSeqLen);
        }
        List<CausalLmExample> order = ordered(examples, seed, shuffle);
        List<int[][]> rows = pack ? packedRows(order, maxSeqLen) : truncatedRows(order, maxSeqLen);
        List<CausalLmBatch> out = new ArrayList<>();
        for (int from = 0; from < rows.size(); from += batchSize) {
            // Packed rows are all exactly maxSeqLen: only the final one is short, and it is padded up to it.
            out.add(batch(rows.subList(from, Math.min(from + batchSize, rows.size())), padId, pack ? maxSeqLen : 0));
        }
        return out;
    }

    /**
     * Classification batches: texts encoded with the tokenizer's special tokens, cut to {@code maxSeqLen}
     * (0 = no limit) by the tokenizer, padded to the longest row with its pad token (EOS when it has none),
     * labels looked up in {@code labels}.
     */
    public static List<ClassificationBatch> classificationBatches(List<Record.Classification> records, Tokenizer tokenizer, Labels labels,
                                                                  int batchSize, int maxSeqLen, long seed, boolean shuffle) {
        if (batchSize <= 0) throw new IllegalArgumentException("batchSize must be > 0, got " + batchSize);
        Tokenizer.Options.Builder o = tokenizer.options().toBuilder().addSpecialTokens(true).padding(Tokenizer.Padding.NONE)
                .paddingSide(Tokenizer.Side.RIGHT).maxLength(maxSeqLen).truncation(maxSeqLen > 0);
        if (tokenizer.padTokenId() == null && tokenizer.specialTokens().eos() != null) o.padToken(tokenizer.specialTokens().eos());
        List<Record.Classification> order = ordered(records, seed, shuffle);
        List<ClassificationBatch> out = new ArrayList<>();
        try (Tokenizer t = tokenizer.withOptions(o.build())) {
            for (int from = 0; from < order.size(); from += batchSize) {
                List<Record.Classification> part = order.subList(from, Math.min(from + batchSize, order.size()));
                List<Encoding> enc = t.encodeBatch(part.stream().map(Record.Classification::text).toList());
                int b = part.size(), seq = enc.getFirst().length();
                int[] ids = new int[b * seq], types = new int[b * seq], mask = new int[b * seq], y = new int[b];
                for (int i = 0; i < b; i++) {
                    Encoding e = enc.get(i);
                    System.arraycopy(e.ids(), 0, ids, i * seq, seq);
                    System.arraycopy(e.typeIds(), 0, types, i * seq, seq);
                    System.arraycopy(e.attentionMask(), 0, mask, i * seq, seq);
                    y[i] = labels.id(part.get(i).label());
                }
                out.add(new ClassificationBatch(ids, types, mask, y, b, seq));
            }
        }
        return out;
    }

    private static <T> List<T> ordered(List<T> items, long seed, boolean shuffle) {
        List<T> order = new ArrayList<>(items);
        if (shuffle) {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = order.size() - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                T t = order.get(i);
                order.set(i, order.get(j));
                order.set(j, t);
            }
        }
        return order;
    }

    /** Each row as {ids, labels} (unshifted, unpadded). */
    private static List<int[][]> truncatedRows(List<CausalLmExample> examples, int maxSeqLen) {
        List<int[][]> rows = new ArrayList<>(examples.size());
        for (CausalLmExample e : examples) {
            if (e.length() == 0) continue; // nothing to feed; an empty row would only be padding
            int n = maxSeqLen > 0 ? Math.min(maxSeqLen, e.length()) : e.length();
            rows.add(new int[][] {Arrays.copyOf(e.inputIds(), n), Arrays.copyOf(e.labels(), n)});
        }
        return rows;
    }

    private static List<int[][]> packedRows(List<CausalLmExample> examples, int maxSeqLen) {
        long total = 0;
        for (CausalLmExample e : examples) total += e.length();
        int[] ids = new int[Math.toIntExact(total)], labels = new int[ids.length];
        int at = 0;
        for (CausalLmExample e : examples) {
            System.arraycopy(e.inputIds(), 0, ids, at, e.length());
            System.arraycopy(e.labels(), 0, labels, at, e.length());
            at += e.length();
        }
        List<int[][]> rows = new ArrayList<>();
        for (int from = 0; from < ids.length; from += maxSeqLen) {
            int to = Math.min(from + maxSeqLen, ids.length);
            rows.add(new int[][] {Arrays.copyOfRange(ids, from, to), Arrays.copyOfRange(labels, from, to)});
        }
        return rows;
    }

    private static CausalLmBatch batch(List<int[][]> rows, int padId, int minSeq) {
        int b = rows.size(), seq = minSeq;
        for (int[][] r : rows) seq = Math.max(seq, r[0].length);
        int[] ids = new int[b * seq], labels = new int[b * seq], mask = new int[b * seq];
        Arrays.fill(ids, padId);
        Arrays.fill(labels, CausalLmExample.IGNORE);
        for (int i = 0; i < b; i++) {
            int[] rIds = rows.get(i)[0], rLabels = rows.get(i)[1];
            int n = rIds.length, off = i * seq;
            System.arraycopy(rIds, 0, ids, off, n);
            Arrays.fill(mask, off, off + n, 1);
            // Shift: position t predicts token t+1; the last real position has no target.
            System.arraycopy(rLabels, 1, labels, off, Math.max(0, n - 1));
        }
        return new CausalLmBatch(ids, labels, mask, b, seq);
    }
}
