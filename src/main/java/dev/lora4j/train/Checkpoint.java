package dev.lora4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.train.optim.Optimizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A resumable training state on disk: the trainable weights, the optimizer's moments, and where the loop was.
 * Each checkpoint is written whole into its own directory and only then named in {@code latest} (a rename), so
 * a run killed at any moment leaves the previous checkpoint intact.
 */
final class Checkpoint {
    /** The file naming the newest complete checkpoint directory. */
    static final String LATEST = "latest_checkpoint";
    /** Checkpoint directories are {@code checkpoint-<step>}, as transformers' Trainer names them. */
    static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Where the loop stood after {@code step} optimizer steps, with the history that led there. */
    record Progress(long step, List<TrainingHistory.Step> steps, List<TrainingHistory.Eval> evals, long examples, long tokens) {}

    private Checkpoint() {}

    static void save(Path root, List<Variable> trainable, Optimizer optimizer, Progress progress) throws IOException {
        Files.createDirectories(root);
        String name = PREFIX + progress.step();
        Path dir = root.resolve(name);
        Files.createDirectories(dir);
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (int i = 0; i < trainable.size(); i++) weights.put("p." + i, trainable.get(i).value());
        SafetensorsWriter.write(dir.resolve("trainable.safetensors"), weights, Map.of());
        Map<String, Tensor> state = new LinkedHashMap<>();
        optimizer.state().forEach((k, v) -> state.put(k, Tensor.of(v, v.length)));
        SafetensorsWriter.write(dir.resolve("optimizer.safetensors"), state, Map.of());
        JSON.writeValue(dir.resolve("progress.json").toFile(), progress);
        Path tmp = root.resolve("." + LATEST + ".tmp");
        Files.writeString(tmp, name);
        Files.move(tmp, root.resolve(LATEST), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        try (Stream<Path> old = Files.list(root)) {
            for (Path p : old.filter(p -> p.getFileName().toString().startsWith(PREFIX) && !p.equals(dir)).toList()) deleteTree(p);
        }
    }

    /** Restores the latest checkpoint into the variables and optimizer; empty when there is none. */
    static java.util.Optional<Progress> restore(Path root, List<Variable> trainable, Optimizer optimizer) throws IOException {
        Path latest = root.resolve(LATEST);
        if (!Files.exists(latest)) return java.util.Optional.empty();
        Path dir = root.resolve(Files.readString(latest).trim());
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("trainable.safetensors"))) {
            if (f.names().size() != trainable.size()) {
                throw new IOException(dir + ": checkpoint holds " + f.names().size() + " trainable tensors, this run has " + trainable.size());
            }
            for (int i = 0; i < trainable.size(); i++) {
                float[] saved = f.tensor("p." + i).data(), into = trainable.get(i).data();
                if (saved.length != into.length) {
                    throw new IOException(dir + ": trainable tensor " + i + " has " + saved.length + " values, this run's has " + into.length);
                }
                System.arraycopy(saved, 0, into, 0, into.length);
            }
        }
        Map<String, float[]> state = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("optimizer.safetensors"))) {
            for (String n : f.names()) state.put(n, f.tensor(n).data());
        }
        optimizer.loadState(state);
        return java.util.Optional.of(JSON.readValue(dir.resolve("progress.json").toFile(), Progress.class));
    }

    private static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            List<Path> all = new ArrayList<>(s.toList());
            java.util.Collections.reverse(all);
            for (Path x : all) Files.deleteIfExists(x);
        }
    }
}
