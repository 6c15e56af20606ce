package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Runs `lora4j` command lines in the test JVM and captures what they print; fixture model directories. */
final class CliRunner {
    private CliRunner() {}

    /** What a command printed and the status it exited with. */
    record Run(int status, String out, String err) {
        /** The last line of standard output, parsed as JSON (the --json summary). */
        JsonNode json() throws Exception {
            String[] lines = out.strip().split("\n");
            return new ObjectMapper().readTree(lines[lines.length - 1]);
        }
    }

    static synchronized Run run(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int status = Lora4j.execute(args);
            return new Run(status, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    /** Runs and requires exit status 0, showing the command's error output otherwise. */
    static Run ok(String... args) {
        Run r = run(args);
        assertEquals(0, r.status(), () -> String.join(" ", args) + " failed:\n" + r.err() + "\n" + r.out());
        return r;
    }

    /** The tiny Llama fixture (PyTorch-made weights) with the tiny BPE tokenizer and its chat template. */
    static Path llamaTiny(Path into) throws Exception {
        Path dir = into.resolve("llama-tiny");
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(Path.of("src/test/resources/fixtures/llama-tiny").resolve(f), dir.resolve(f));
        }
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(Path.of("src/test/resources/tokenize/bpe").resolve(f), dir.resolve(f));
        }
        return dir;
    }
}
