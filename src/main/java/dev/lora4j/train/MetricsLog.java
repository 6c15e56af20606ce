package dev.lora4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * metrics.jsonl beside the adapter: one JSON object per optimizer step ({@code step, loss, lr, tokens}) and per
 * evaluation ({@code step, eval_...}), in step order. Rewritten whole through a temp file and a rename, so a
 * killed run leaves the file as of its last write, never a torn line. Non-finite values are written as null.
 */
public final class MetricsLog {
    /** The file's name in an output directory. */
    public static final String FILE = "metrics.jsonl";
    private static final ObjectMapper JSON = new ObjectMapper();

    private MetricsLog() {}

    public static void write(Path file, TrainingHistory history) throws IOException {
        List<Map<String, Object>> lines = new ArrayList<>();
        for (TrainingHistory.Step s : history.steps()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", s.step());
            m.put("loss", finiteOrNull(s.loss()));
            m.put("lr", s.lr());
            m.put("tokens", s.tokens());
            lines.add(m);
        }
        for (TrainingHistory.Eval e : history.evals()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", e.step());
            e.metrics().forEach((k, v) -> m.put(k, finiteOrNull(v)));
            lines.add(m);
        }
        // Stable sort: at equal steps the training line comes before the evaluation made after it.
        lines.sort(Comparator.comparingLong(m -> ((Number) m.get("step")).longValue()));
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (Map<String, Object> m : lines) {
                w.write(JSON.writeValueAsString(m));
                w.write('\n');
            }
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static Object finiteOrNull(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
