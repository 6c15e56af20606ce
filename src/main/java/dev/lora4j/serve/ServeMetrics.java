package dev.lora4j.serve;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The server's counters and histograms, written in the Prometheus text exposition format for GET /metrics:
 * requests by endpoint and status, prompt and generated tokens, decode batch sizes, queue time, request latency,
 * and the adapter cache's hits, misses and evictions. Safe to update from any thread.
 */
public final class ServeMetrics {
    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final LongAdder promptTokens = new LongAdder(), generationTokens = new LongAdder();
    private final Histogram batchSize = new Histogram(new double[] {1, 2, 4, 8, 16, 32, 64});
    private final Histogram queueSeconds = new Histogram(new double[] {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10});
    private final Histogram latencySeconds = new Histogram(new double[] {0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60});
    private final Map<String, LongSupplier> gauges = new TreeMap<>();

    /** Counts one answered request. */
    public void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    public void promptTokens(int n) {
        promptTokens.add(n);
    }

    public void generatedTokens(int n) {
        generationTokens.add(n);
    }

    /** Sequences in one decode step. */
    public void batch(int sequences) {
        batchSize.observe(sequences);
    }

    /** Time a generation request waited before its first step. */
    public void queued(double seconds) {
        queueSeconds.observe(seconds);
    }

    public void latency(double seconds) {
        latencySeconds.observe(seconds);
    }

    /** A value read when /metrics is scraped (cache counters, adapters in memory), under {@code lora4j_<name>}. */
    public synchronized void gauge(String name, LongSupplier value) {
        gauges.put(name, value);
    }

    public long requestCount(String endpoint, int status) {
        LongAdder a = requests.get(endpoint + "\u0000" + status);
        return a == null ? 0 : a.sum();
    }

    public long generatedTokens() {
        return generationTokens.sum();
    }

    /** The Prometheus text format. */
    public synchronized String render() {
        StringBuilder sb = new StringBuilder();
        sb.append("# HELP lora4j_requests_total HTTP requests answered, by endpoint and status.\n# TYPE lora4j_requests_total counter\n");
        new TreeMap<>(requests).forEach((k, v) -> {
            String[] p = k.split("\u0000");
            sb.append("lora4j_requests_total{endpoint=\"").append(p[0]).append("\",status=\"").append(p[1]).append("\"} ").append(v.sum()).append('\n');
        });
        counter(sb, "lora4j_prompt_tokens_total", "Prompt tokens of generation requests.", promptTokens.sum());
        counter(sb, "lora4j_generation_tokens_total", "Tokens generated.", generationTokens.sum());
        batchSize.render(sb, "lora4j_batch_size", "Sequences per decode step.");
        queueSeconds.render(sb, "lora4j_queue_time_seconds", "Time from arrival to a request's first decode step.");
        latencySeconds.render(sb, "lora4j_request_latency_seconds", "Time from arrival to the last token of a generation request.");
        gauges.forEach((name, v) -> {
            String type = name.endsWith("_total") ? "counter" : "gauge";
            sb.append("# TYPE lora4j_").append(name).append(' ').append(type).append('\n');
            sb.append("lora4j_").append(name).append(' ').append(v.getAsLong()).append('\n');
        });
        return sb.toString();
    }

    private static void counter(StringBuilder sb, String name, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" counter\n")
            .append(name).append(' ').append(value).append('\n');
    }

    /** A Prometheus histogram: cumulative bucket counts, sum and count. */
    static final class Histogram {
        private final double[] bounds;
        private final AtomicLong[] counts;
        private final AtomicLong count = new AtomicLong();
        private final java.util.concurrent.atomic.DoubleAdder sum = new java.util.concurrent.atomic.DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new AtomicLong[bounds.length];
            for (int i = 0; i < bounds.length; i++) counts[i] = new AtomicLong();
        }

        void observe(double v) {
            for (int i = 0; i < bounds.length; i++) if (v <= bounds[i]) counts[i].incrementAndGet();
            count.incrementAndGet();
            sum.add(v);
        }

        void render(StringBuilder sb, String name, String help) {
            sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" histogram\n");
            for (int i = 0; i < bounds.length; i++) {
                sb.append(name).append("_bucket{le=\"").append(format(bounds[i])).append("\"} ").append(counts[i].get()).append('\n');
            }
            sb.append(name).append("_bucket{le=\"+Inf\"} ").append(count.get()).append('\n');
            sb.append(name).append("_sum ").append(format(sum.sum())).append('\n');
            sb.append(name).append("_count ").append(count.get()).append('\n');
        }

        private static String format(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.6g", v);
        }
    }
}
