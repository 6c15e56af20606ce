package dev.lora4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraLayer;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.serve.BatchScheduler;
import dev.lora4j.serve.LoraServer;
import dev.lora4j.serve.ServerConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A load-test client for `lora4j serve`, over HTTP on loopback only, bounded in requests and in time. It starts
 * three servers in this JVM over the same base model and measures, round after round (A B C A B C, so that the
 * machine's drift hits all three alike): one adapter for every request; eight adapters mixed evenly, batched
 * together; and the same eight served the naive way, one request at a time with its adapter merged into the base
 * weights. Reports generated tokens per second and p50/p99 request latency.
 *
 * <p>Without a model directory it writes a random Llama of SmolLM2-135M's shape and a word-level tokenizer that
 * covers its whole vocabulary (prompts are random words; no EOS, so every request generates max_tokens).
 */
public final class ServeBenchmark {
    /** What the client does: requests per scenario and round, how many at once, their shape, and the time cap. */
    public record Settings(int requests, int concurrency, int promptTokens, int maxTokens, double secondsPerScenario, int rounds,
                           int rank, String targets, int adapters, int maxBatch) {}

    /** One scenario's measurement in one round. */
    public record Result(String scenario, int round, int requests, long tokens, double seconds, double tokensPerSecond,
                         double p50Seconds, double p99Seconds) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private ServeBenchmark() {}

    /** Makes (or reuses) the model and adapters under {@code work}, then runs every round; prints one JSON line per result. */
    public static List<Result> run(Path model, Path work, Settings s) throws Exception {
        Files.createDirectories(work);
        if (model == null) {
            model = work.resolve("smollm2-random");
            if (!Files.exists(model.resolve("model.safetensors"))) RandomCheckpoint.writeLlama(model, RandomCheckpoint.smolLm2Config(), 1);
            if (!Files.exists(model.resolve("tokenizer.json"))) writeWordLevelTokenizer(model.resolve("tokenizer.json"), vocabSize(model));
        }
        Map<String, Path> adapters = new LinkedHashMap<>();
        for (int i = 0; i < s.adapters(); i++) {
            Path dir = work.resolve("adapter-" + i);
            if (!Files.exists(dir.resolve(PeftAdapterWriter.WEIGHTS_FILE))) writeAdapter(model, dir, s.rank(), s.targets(), 100 + i);
            adapters.put("a" + i, dir);
        }
        List<String> names = new ArrayList<>(adapters.keySet());
        int vocab = Math.min(vocabSize(model), 1000);
        ServerConfig base = ServerConfig.defaults(model.toString()).withAdapters(adapters).withMaxAdapters(s.adapters())
            .withMaxBatch(s.maxBatch()).withMaxTokensCap(Math.max(512, s.maxTokens()));
        List<Result> results = new ArrayList<>();
        try (LoraServer mixed = LoraServer.start(base);
             LoraServer merged = LoraServer.start(base.withMode(BatchScheduler.Mode.MERGE_PER_REQUEST))) {
            // Warm-up (JIT, first touch of the mapped weights) outside the measurement.
            load(mixed, names, s.concurrency(), Math.max(4, s.concurrency()), 8, s.promptTokens(), vocab, 30, "warmup", 0);
            load(merged, names.subList(0, 2), 2, 2, 4, s.promptTokens(), vocab, 30, "warmup", 0);
            for (int round = 1; round <= s.rounds(); round++) {
                results.add(print(load(mixed, names.subList(0, 1), s.concurrency(), s.requests(), s.maxTokens(), s.promptTokens(), vocab,
                    s.secondsPerScenario(), "one-adapter", round)));
                results.add(print(load(mixed, names, s.concurrency(), s.requests(), s.maxTokens(), s.promptTokens(), vocab,
                    s.secondsPerScenario(), s.adapters() + "-adapters-mixed", round)));
                results.add(print(load(merged, names, s.concurrency(), s.requests(), s.maxTokens(), s.promptTokens(), vocab,
                    s.secondsPerScenario(), s.adapters() + "-adapters-merge-per-request", round)));
            }
        }
        return results;
    }

    private static Result print(Result r) throws IOException {
        System.out.println(JSON.writeValueAsString(r));
        return r;
    }

    /**
     * {@code concurrency} clients send requests (adapters round robin) until {@code requests} have been sent or
     * {@code seconds} have passed; requests under way at the deadline still finish and count.
     */
    static Result load(LoraServer server, List<String> adapters, int concurrency, int requests, int maxTokens, int promptTokens, int vocab,
                       double seconds, String scenario, int round) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        AtomicInteger issued = new AtomicInteger();
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime(), deadline = start + (long) (seconds * 1e9);
        long[] tokens = new long[concurrency];
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> clients = new ArrayList<>();
            for (int c = 0; c < concurrency; c++) {
                int client = c;
                clients.add(pool.submit(() -> {
                    SplittableRandom rnd = new SplittableRandom(round * 1000L + client);
                    while (System.nanoTime() < deadline) {
                        int i = issued.getAndIncrement();
                        if (i >= requests) break;
                        StringBuilder prompt = new StringBuilder();
                        for (int t = 0; t < promptTokens; t++) prompt.append(t == 0 ? "" : " ").append('t').append(1 + rnd.nextInt(vocab - 1));
                        ObjectNode body = JSON.createObjectNode().put("model", adapters.get(i % adapters.size())).put("prompt", prompt.toString())
                            .put("max_tokens", maxTokens).put("temperature", 0);
                        long t0 = System.nanoTime();
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/v1/completions"))
                            .POST(HttpRequest.BodyPublishers.ofString(body.toString())).header("Content-Type", "application/json").build(),
                            HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() != 200) throw new IllegalStateException("request failed: " + r.statusCode() + " " + r.body());
                        latencies.add((System.nanoTime() - t0) * 1e-9);
                        JsonNode usage = JSON.readTree(r.body()).get("usage");
                        tokens[client] += usage.get("completion_tokens").asLong();
                    }
                    return null;
                }));
            }
            for (Future<?> f : clients) f.get();
        }
        double elapsed = (System.nanoTime() - start) * 1e-9;
        long total = 0;
        for (long t : tokens) total += t;
        List<Double> sorted = new ArrayList<>(latencies);
        Collections.sort(sorted);
        return new Result(scenario, round, sorted.size(), total, elapsed, total / elapsed, percentile(sorted, 0.50), percentile(sorted, 0.99));
    }

    private static double percentile(List<Double> sorted, double q) {
        if (sorted.isEmpty()) return Double.NaN;
        int i = (int) Math.ceil(q * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }

    private static int vocabSize(Path model) throws IOException {
        return JSON.readTree(model.resolve("config.json").toFile()).get("vocab_size").asInt();
    }

    /** A random adapter (A and B N(0, 0.02²)) for the model, in Peft's format. */
    private static void writeAdapter(Path model, Path dir, int rank, String targets, long seed) throws IOException {
        CausalLanguageModel lm = PretrainedModels.causalLm(model);
        LoraModel lora = LoraModel.inject((Module) lm, LoraConfig.of(rank, 2 * rank, targets), seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (LoraLayer l : lora.loraLayers()) {
            for (var v : l.adapterParameters("default").values()) {
                float[] d = v.data();
                for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * 0.02);
            }
        }
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", model.toString());
    }

    /** A word-level tokenizer.json whose words t0 .. t(n−1) are the ids 0 .. n−1, split on whitespace. */
    static void writeWordLevelTokenizer(Path file, int n) throws IOException {
        ObjectNode root = JSON.createObjectNode().put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens");
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "WhitespaceSplit");
        root.putNull("post_processor");
        root.putNull("decoder");
        ObjectNode m = root.putObject("model").put("type", "WordLevel").put("unk_token", "t0");
        ObjectNode vocab = m.putObject("vocab");
        for (int i = 0; i < n; i++) vocab.put("t" + i, i);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        JSON.writeValue(tmp.toFile(), root);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}
