package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Variable;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.KvCache;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class GeneratorTest {
    private static final int[] PROMPT = {3, 1, 4, 1, 5};

    /** Greedy decoding computed from the model's table directly, without a cache. */
    private static List<Integer> referenceGreedy(FakeModel m, int[] prompt, int n) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(Sampler.argmax(m.logitsAfter(FakeModel.concat(prompt, out))));
        return out;
    }

    @Test
    void greedyFollowsArgmaxOfTheFullSequence() {
        FakeModel m = FakeModel.hashed(17, -3, 3);
        List<Integer> ids = Generator.generate(m, PROMPT, SamplingOptions.greedy(25), null);
        assertEquals(referenceGreedy(FakeModel.hashed(17, -3, 3), PROMPT, 25), ids);
    }

    @Test
    void prefillOnceThenOneTokenPerCall() {
        FakeModel m = FakeModel.hashed(11, -2, 2);
        GenerationResult r = Generator.generateWithStats(m, PROMPT, SamplingOptions.greedy(12), null);
        assertEquals(12, r.generatedTokens());
        assertEquals(PROMPT.length, r.promptTokens());
        assertEquals(GenerationResult.StopReason.MAX_NEW_TOKENS, r.stopReason());
        // n tokens, n calls: the prompt once, then each generated token but the last, one at a time
        assertEquals(12, m.calls.size());
        assertArrayEquals(PROMPT, m.calls.get(0));
        for (int i = 1; i < m.calls.size(); i++) {
            assertArrayEquals(new int[] {r.ids().get(i - 1)}, m.calls.get(i), "call " + i);
            assertEquals(PROMPT.length + i - 1, m.cacheLengthAtCall.get(i), "cache length at call " + i);
        }
        assertEquals(0, m.cacheLengthAtCall.get(0));
        assertTrue(r.prefillSeconds() >= 0 && r.decodeSeconds() >= 0 && r.decodeTokensPerSecond() >= 0);
    }

    @Test
    void stopsAtStopTokenAndIncludesIt() {
        FakeModel probe = FakeModel.hashed(13, -3, 3);
        List<Integer> ref = referenceGreedy(probe, PROMPT, 30);
        int stopAt = -1; // first position >= 2 whose token did not occur before
        for (int i = 2; i < ref.size() && stopAt < 0; i++) if (!ref.subList(0, i).contains(ref.get(i))) stopAt = i;
        assertTrue(stopAt > 0, "test setup: no fresh token in " + ref);
        int eos = ref.get(stopAt);

        FakeModel m = FakeModel.hashed(13, -3, 3);
        List<Integer> heard = new ArrayList<>();
        GenerationResult r = Generator.generateWithStats(
                m, PROMPT, SamplingOptions.greedy(30).withStopTokenIds(Set.of(eos, 999)), heard::add);
        assertEquals(ref.subList(0, stopAt + 1), r.ids());
        assertEquals(eos, r.ids().getLast());
        assertEquals(GenerationResult.StopReason.STOP_TOKEN, r.stopReason());
        assertEquals(stopAt + 1, m.calls.size(), "the stop token is not fed back");
        assertEquals(r.ids(), heard);
    }

    @Test
    void stopTokenAsFirstTokenEndsAfterPrefill() {
        FakeModel probe = FakeModel.hashed(9, -3, 3);
        int first = referenceGreedy(probe, PROMPT, 1).getFirst();
        FakeModel m = FakeModel.hashed(9, -3, 3);
        List<Integer> ids = Generator.generate(m, PROMPT, SamplingOptions.greedy(10).withStopTokenIds(Set.of(first)), null);
        assertEquals(List.of(first), ids);
        assertEquals(1, m.calls.size());
    }

    @Test
    void stopsAtMaxNewTokens() {
        for (int n : new int[] {1, 2, 7}) {
            FakeModel m = FakeModel.hashed(10, -1, 1);
            List<Integer> ids = Generator.generate(m, PROMPT, SamplingOptions.sampling(n, 1.0, 0, 1.0, 5), null);
            assertEquals(n, ids.size());
            assertEquals(n, m.calls.size());
        }
        FakeModel m = FakeModel.hashed(10, -1, 1);
        GenerationResult r = Generator.generateWithStats(m, PROMPT, SamplingOptions.greedy(0), null);
        assertEquals(List.of(), r.ids());
        assertEquals(0, m.calls.size());
    }

    @Test
    void listenerGetsEveryTokenInOrder() {
        FakeModel m = FakeModel.hashed(20, -2, 2);
        List<Integer> heard = new ArrayList<>();
        List<Integer> ids = Generator.generate(m, PROMPT, SamplingOptions.sampling(40, 1.3, 0, 0.95, 77), heard::add);
        assertEquals(40, ids.size());
        assertEquals(ids, heard);
        // streaming: each token reaches the listener before the model is asked for the next one
        int[] heardSoFar = {0};
        List<Integer> heardAtModelCall = new ArrayList<>();
        FakeModel m2 = new FakeModel(20, seq -> {
            heardAtModelCall.add(heardSoFar[0]);
            return FakeModel.hashed(20, -2, 2).logitsAfter(seq);
        });
        Generator.generate(m2, new int[] {1}, SamplingOptions.greedy(5), id -> heardSoFar[0]++);
        assertEquals(List.of(0, 1, 2, 3, 4), heardAtModelCall);
    }

    @Test
    void topKOneAndTinyTopPEqualGreedyForAnyTemperature() {
        List<Integer> greedy = Generator.generate(FakeModel.hashed(23, -4, 4), PROMPT, SamplingOptions.greedy(30), null);
        for (double t : new double[] {0.01, 0.5, 1.0, 3.0, 100.0}) {
            for (long seed = 1; seed <= 3; seed++) {
                assertEquals(greedy, Generator.generate(FakeModel.hashed(23, -4, 4), PROMPT,
                        SamplingOptions.sampling(30, t, 1, 1.0, seed), null), "top-k 1, T=" + t);
                assertEquals(greedy, Generator.generate(FakeModel.hashed(23, -4, 4), PROMPT,
                        SamplingOptions.sampling(30, t, 0, 1e-9, seed), null), "top-p 1e-9, T=" + t);
            }
        }
    }

    @Test
    void fixedSeedReproducesAndDifferentSeedsDiffer() {
        SamplingOptions o = SamplingOptions.sampling(50, 1.0, 0, 1.0, 42);
        List<Integer> a = Generator.generate(FakeModel.hashed(16, -1, 1), PROMPT, o, null);
        List<Integer> b = Generator.generate(FakeModel.hashed(16, -1, 1), PROMPT, o, null);
        List<Integer> c = Generator.generate(FakeModel.hashed(16, -1, 1), PROMPT, o.withSeed(43), null);
        assertEquals(a, b);
        assertNotEquals(a, c);
        assertTrue(new HashSet<>(a).size() > 3, "sampling at T=1 over near-flat logits should vary: " + a);
    }

    @Test
    void repetitionPenaltyAvoidsRepeatsInGreedy() {
        // all logits positive, so a seen token divided by 1000 drops below every unseen one
        FakeModel m = FakeModel.hashed(16, 1, 3);
        int[] prompt = {2, 7};
        List<Integer> plain = Generator.generate(FakeModel.hashed(16, 1, 3), prompt, SamplingOptions.greedy(12), null);
        List<Integer> ids = Generator.generate(m, prompt, SamplingOptions.greedy(12).withRepetitionPenalty(1000), null);
        Set<Integer> all = new HashSet<>(List.of(2, 7));
        all.addAll(ids);
        assertEquals(14, all.size(), "no token repeats the prompt or itself: " + ids);
        assertTrue(new HashSet<>(plain).size() < 12 || !plain.equals(ids), "the penalty changed something");
    }

    @Test
    void rejectsBadInput() {
        FakeModel m = FakeModel.hashed(8, -1, 1);
        var e = assertThrows(IllegalArgumentException.class,
                () -> Generator.generate(m, new int[0], SamplingOptions.greedy(3), null));
        assertTrue(e.getMessage().contains("prompt is empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Generator.generate(m, new int[] {1, 8}, SamplingOptions.greedy(3), null));
        assertTrue(e.getMessage().contains("id 8") && e.getMessage().contains("vocabulary of 8"), e.getMessage());

        CausalLanguageModel broken = new CausalLanguageModel() { // one logit short per row
            public int vocabSize() { return 8; }
            public Variable forward(int[] ids, int batch, int seq, int[] mask) { throw new UnsupportedOperationException(); }
            public KvCache newCache(int capacity) { return new KvCache(1, 1, capacity); }
            public float[] forwardCached(int[] tokens, KvCache cache) { return new float[tokens.length * 8 - 1]; }
        };
        var s = assertThrows(IllegalStateException.class,
                () -> Generator.generate(broken, new int[] {1}, SamplingOptions.greedy(3), null));
        assertTrue(s.getMessage().contains("returned 7 logits for 1 token(s); expected 1 x 8"), s.getMessage());

        FakeModel nan = new FakeModel(4, seq -> new float[] {0, Float.NaN, 1, 2});
        s = assertThrows(IllegalStateException.class,
                () -> Generator.generate(nan, new int[] {1}, SamplingOptions.greedy(3), null));
        assertTrue(s.getMessage().contains("NaN"), s.getMessage());
    }
}
