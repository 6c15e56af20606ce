package dev.lora4j.bench;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.bench.AdaptationBenchmark.Method;
import dev.lora4j.bench.AdaptationBenchmark.Options;
import dev.lora4j.bench.AdaptationBenchmark.Report;
import dev.lora4j.bench.AdaptationBenchmark.Result;
import dev.lora4j.inspect.CheckpointSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo at a tiny size: every method runs, counts add up, LoRA's merged accuracy equals its unmerged one, files land. */
class AdaptationBenchmarkTest {
    @TempDir
    Path out;

    static final Options TINY = new Options(48, 32, 1, 32, 1, 16, 2, 4, 3);

    static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream());
    }

    @Test
    void cnnDemoRunsAllThreeMethods() throws Exception {
        Report r = AdaptationBenchmark.cnn(TINY, out, quiet());
        assertEquals(3, r.results().size());
        Result lora = r.results().get(0), full = r.results().get(1), head = r.results().get(2);
        assertEquals(Method.LORA, lora.method());
        assertEquals(r.parameters(), full.trainable(), "full fine-tuning trains everything");
        assertEquals(4 * 32 + 4, head.trainable(), "head-only trains fc [4, 32] and its bias");
        // r = 2 on the 7 3x3 convs (stem 1->8, 8->8 x2, 8->16, 16->16, 16->32, 32->32) plus the head.
        long loraExpected = 2 * (9 * (1 + 8 + 8 + 8 + 16 + 16 + 32)) + 2 * (8 + 8 + 8 + 16 + 16 + 32 + 32) + 132;
        assertEquals(loraExpected, lora.trainable());
        assertEquals(lora.accuracy(), lora.mergedAccuracy(), 1.0 / 32 + 1e-9, "merging changes at most one borderline prediction");
        assertTrue(Files.isRegularFile(out.resolve("lora/adapter_model.safetensors")));
        CheckpointSummary s = CheckpointSummary.read(out.resolve("base.safetensors"));
        assertEquals(r.parameters(), s.parameters());
        CheckpointSummary.Layer conv = s.layers().stream().filter(l -> l.path().equals("layer2.0.conv1")).findFirst().orElseThrow();
        assertEquals("conv2d", conv.kind());
        assertEquals(8 * 3 * 3 + 16, conv.loraPerRank(), "A [1, 8, 3, 3] and B [16, 1, 1, 1] per unit of rank");
    }

    @Test
    void lstmDemoRunsAllThreeMethods() throws Exception {
        Report r = AdaptationBenchmark.lstm(TINY, out, quiet());
        Result lora = r.results().get(0), head = r.results().get(2);
        assertEquals(4 * 48 + 4, head.trainable());
        // r = 2 on weight_ih [96, 16] and weight_hh [96, 24], both directions, plus the head.
        assertEquals(2 * (2 * (16 + 96) + 2 * (24 + 96)) + 196, lora.trainable());
        assertTrue(r.shiftedBefore() >= 0 && r.shiftedBefore() <= 1);
        assertTrue(Files.isRegularFile(out.resolve("lora/adapter_config.json")));
        CheckpointSummary s = CheckpointSummary.read(out.resolve("base.safetensors"));
        CheckpointSummary.Layer lstm = s.layers().stream().filter(l -> l.path().equals("lstm[l0_reverse]")).findFirst().orElseThrow();
        assertEquals("lstm", lstm.kind());
        assertEquals((16 + 96) + (24 + 96), lstm.loraPerRank());
    }
}
