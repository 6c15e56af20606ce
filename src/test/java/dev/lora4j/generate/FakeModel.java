package dev.lora4j.generate;

import dev.lora4j.autograd.Variable;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.KvCache;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * A decoder whose next-token logits are a deterministic function of the whole sequence so far, read back from
 * its KV cache (each cached "key" is the token id), so a generator that mishandles the cache gets different
 * logits than {@link #logitsAfter} predicts. Records every call.
 */
final class FakeModel implements CausalLanguageModel {
    final int vocab;
    final Function<int[], float[]> table;
    final List<int[]> calls = new ArrayList<>();
    final List<Integer> cacheLengthAtCall = new ArrayList<>();

    FakeModel(int vocab, Function<int[], float[]> table) {
        this.vocab = vocab;
        this.table = table;
    }

    /** Logits uniform in [lo, hi), pseudo-random from a hash of the sequence: no ties in practice. */
    static FakeModel hashed(int vocab, double lo, double hi) {
        return new FakeModel(vocab, seq -> {
            long h = 0x9E3779B97F4A7C15L;
            for (int t : seq) h = (h ^ t) * 0xBF58476D1CE4E5B9L + seq.length;
            SplittableRandom r = new SplittableRandom(h);
            float[] row = new float[vocab];
            for (int j = 0; j < vocab; j++) row[j] = (float) (lo + (hi - lo) * r.nextDouble());
            return row;
        });
    }

    /** The logits the model gives for the token after {@code sequence}. */
    float[] logitsAfter(int[] sequence) {
        return table.apply(sequence);
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        throw new UnsupportedOperationException("not needed for generation");
    }

    @Override
    public KvCache newCache(int capacity) {
        return new KvCache(1, 1, capacity);
    }

    @Override
    public float[] forwardCached(int[] tokens, KvCache cache) {
        calls.add(tokens.clone());
        cacheLengthAtCall.add(cache.length());
        int start = cache.length();
        float[] kv = new float[tokens.length];
        for (int i = 0; i < tokens.length; i++) kv[i] = tokens[i];
        cache.append(0, kv, kv, tokens.length);
        float[] keys = cache.keys(0);
        float[] out = new float[tokens.length * vocab];
        for (int i = 0; i < tokens.length; i++) {
            int[] seq = new int[start + i + 1];
            for (int p = 0; p < seq.length; p++) seq[p] = (int) keys[p];
            System.arraycopy(table.apply(seq), 0, out, i * vocab, vocab);
        }
        cache.advance(tokens.length);
        return out;
    }

    static int[] concat(int[] a, List<Integer> b) {
        int[] r = Arrays.copyOf(a, a.length + b.size());
        for (int i = 0; i < b.size(); i++) r[a.length + i] = b.get(i);
        return r;
    }
}
