package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/**
 * `bench train` on a tiny batch of the minilm-l6 shape: one JSON line with the fields BENCHMARKS.md and compare.sh
 * read, and the memory options changing memory only: gradient checkpointing gives the very same loss, a BF16 base
 * the same loss to within BF16's rounding.
 */
class BenchTrainCliTest {
    private static JsonNode bench(String... extra) throws Exception {
        String[] base = {"bench", "train", "--shape", "minilm-l6", "--steps", "2", "--batch", "2", "--seq", "16"};
        String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return CliRunner.ok(args).json();
    }

    @Test
    void memoryOptionsChangeMemoryNotTheLoss() throws Exception {
        JsonNode plain = bench();
        for (String field : new String[] {"tokens_per_s", "step_s", "peak_rss_mb", "gflops", "gc_s", "start_to_first_step_s", "loss"}) {
            assertTrue(plain.has(field), field + " missing from " + plain);
        }
        assertEquals(32, plain.get("batch").asInt() * plain.get("seq").asInt());
        assertEquals("f32", plain.get("base_dtype").asText());
        assertFalse(plain.get("gradient_checkpointing").asBoolean());

        JsonNode checkpointed = bench("--grad-checkpoint");
        assertTrue(checkpointed.get("gradient_checkpointing").asBoolean());
        // Same seed, same work, only recomputed: the same loss after the same optimizer step.
        assertEquals(plain.get("loss").asDouble(), checkpointed.get("loss").asDouble(), 0.0);

        JsonNode bf16 = bench("--base-dtype", "bf16");
        assertEquals("bf16", bf16.get("base_dtype").asText());
        double a = plain.get("loss").asDouble(), b = bf16.get("loss").asDouble();
        // Weights rounded by at most 2^-8 of themselves move a loss of ~0.7 by far less than 1%.
        assertEquals(a, b, 0.01 * Math.abs(a), "f32 " + a + " vs bf16 " + b);
    }
}
