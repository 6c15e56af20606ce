package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class SamplingOptionsTest {
    private static final SamplingOptions BASE = SamplingOptions.sampling(10, 0.8, 40, 0.95, 1);

    @Test
    void rejectsOutOfRangeValuesWithClearMessages() {
        expect(() -> BASE.withMaxNewTokens(-1), "maxNewTokens must be >= 0, got -1");
        expect(() -> BASE.withTemperature(-0.1), "temperature must be a finite number >= 0");
        expect(() -> BASE.withTemperature(Double.NaN), "temperature");
        expect(() -> BASE.withTemperature(Double.POSITIVE_INFINITY), "temperature");
        expect(() -> BASE.withTopK(-1), "topK must be >= 0");
        expect(() -> BASE.withTopP(0), "topP must be in (0, 1]");
        expect(() -> BASE.withTopP(1.01), "topP must be in (0, 1]");
        expect(() -> BASE.withTopP(Double.NaN), "topP");
        expect(() -> BASE.withRepetitionPenalty(0), "repetitionPenalty must be a finite number > 0");
        expect(() -> BASE.withRepetitionPenalty(-1), "repetitionPenalty");
        expect(() -> BASE.withStopTokenIds(Set.of(-2)), "stop token ids must be >= 0, got -2");
        Set<Integer> withNull = new HashSet<>();
        withNull.add(null);
        expect(() -> BASE.withStopTokenIds(withNull), "must not contain null");
        assertThrows(NullPointerException.class, () -> BASE.withStopTokenIds(null));
    }

    private static void expect(Supplier<SamplingOptions> s, String message) {
        var e = assertThrows(IllegalArgumentException.class, s::get);
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void factoriesAndWithers() {
        SamplingOptions g = SamplingOptions.greedy(5);
        assertTrue(g.isGreedy());
        assertEquals(1.0, g.topP());
        assertEquals(1.0, g.repetitionPenalty());
        assertEquals(Set.of(), g.stopTokenIds());
        SamplingOptions o = BASE.withSeed(9).withStopTokenIds(new HashSet<>(Set.of(2, 3)));
        assertEquals(9, o.seed());
        assertEquals(40, o.topK());
        assertEquals(Set.of(2, 3), o.stopTokenIds());
        assertThrows(UnsupportedOperationException.class, () -> o.stopTokenIds().add(4)); // defensive copy
        assertEquals(0.5, BASE.withTemperature(0.5).temperature());
    }
}
