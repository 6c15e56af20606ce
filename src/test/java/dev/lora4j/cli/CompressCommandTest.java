package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.model.PretrainedModels;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** `lora4j compress` writes a model directory: at full rank it computes what the original did. */
class CompressCommandTest {
    static final Path BASE = Path.of("src/test/resources/fixtures/gpt2-tiny");

    @TempDir
    Path tmp;

    int run(String... args) {
        return new CommandLine(new Lora4j()).execute(args);
    }

    @Test
    void fullRankReproducesTheModelAndLowRankChangesIt() throws Exception {
        float[] base = MergeCommandTest.logits(PretrainedModels.causalLm(BASE));
        assertEquals(0, run("compress", "--model", BASE.toString(), "--rank", "100000", "--out", tmp.resolve("full").toString()));
        assertArrayEquals(base, MergeCommandTest.logits(PretrainedModels.causalLm(tmp.resolve("full"))), 1e-5f);

        assertEquals(0, run("compress", "--model", BASE.toString(), "--rank", "2", "--prune", "0.1", "--quantize", "int8",
            "--out", tmp.resolve("small").toString()));
        float[] small = MergeCommandTest.logits(PretrainedModels.causalLm(tmp.resolve("small")));
        double diff = 0;
        for (int i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(base[i] - small[i]));
        assertTrue(diff > 1e-3, "rank 2 changes the model: " + diff);
        assertNotEquals(0, run("compress", "--model", BASE.toString(), "--quantize", "nf3", "--out", tmp.resolve("x").toString()));
    }
}
