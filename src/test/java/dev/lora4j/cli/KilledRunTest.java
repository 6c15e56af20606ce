package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training process killed with SIGKILL mid-run loses only the steps since its last checkpoint: `train --resume`
 * continues from there and ends with the very adapter an uninterrupted run writes.
 */
class KilledRunTest {
    @TempDir
    Path tmp;

    @Test
    void sigkilledRunResumesToTheSameAdapter() throws Exception {
        Path model = CliRunner.llamaTiny(tmp), data = tmp.resolve("data");
        Files.createDirectories(data);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 64; i++) lines.add("{\"text\": \"" + (i % 3 == 0 ? "lower newest lower" : "newest lower lowest new") + "\"}");
        Files.write(data.resolve("train.jsonl"), lines);
        Files.write(data.resolve("valid.jsonl"), lines.subList(0, 4));
        List<String> flags = List.of("--model", model.toString(), "--data", data.toString(), "--steps", "200", "--batch-size", "2",
            "--lora-dropout", "0", "--save-every", "1", "--max-seq-len", "16", "--target", "all-linear");

        Path uninterrupted = tmp.resolve("whole");
        CliRunner.ok(concat(List.of("train", "--out", uninterrupted.toString()), flags));

        Path killed = tmp.resolve("killed");
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
            "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
            Lora4j.class.getName(), "train", "--out", killed.toString()));
        cmd.addAll(flags);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("killed.log").toFile()).start();
        Path latest = killed.resolve("latest_checkpoint");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (p.isAlive() && System.nanoTime() < deadline && !(Files.exists(latest) && stepOf(latest) >= 5)) Thread.sleep(20);
        assertTrue(p.isAlive(), "the run ended before it could be killed:\n" + Files.readString(tmp.resolve("killed.log")));
        p.destroyForcibly();  // SIGKILL on Linux
        p.waitFor(30, TimeUnit.SECONDS);
        int stepAtKill = stepOf(latest);
        assertTrue(stepAtKill < 200, "killed mid-run at checkpoint " + stepAtKill);
        assertTrue(!Files.exists(killed.resolve("adapter_model.safetensors")), "no adapter yet: the run never finished");

        CliRunner.ok(concat(List.of("train", "--out", killed.toString(), "--resume"), flags));
        assertArrayEquals(Files.readAllBytes(uninterrupted.resolve("adapter_model.safetensors")),
            Files.readAllBytes(killed.resolve("adapter_model.safetensors")), "resumed after SIGKILL at step " + stepAtKill);
    }

    private static int stepOf(Path latest) throws Exception {
        String s = Files.readString(latest).trim();
        return s.startsWith("checkpoint-") ? Integer.parseInt(s.substring("checkpoint-".length())) : -1;
    }

    private static String[] concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all.toArray(String[]::new);
    }
}
