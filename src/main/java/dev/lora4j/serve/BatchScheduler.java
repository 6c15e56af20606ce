package dev.lora4j.serve;

import dev.lora4j.generate.GenerationResult.StopReason;
import dev.lora4j.generate.Sampler;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.KvCache;
import dev.lora4j.peft.AdapterSegments;
import dev.lora4j.peft.MultiAdapterModel;
import dev.lora4j.peft.ServedAdapter;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The one thread that runs the model for generation. In {@link Mode#MIXED} (continuous batching) every step
 * feeds each running sequence its next token, and new requests join between steps with their whole prompt
 * (prefill and decode rows share the step); the rows are ordered by adapter, the base weights apply to all rows
 * at once and each adapter's low-rank product only to its rows ({@link MultiAdapterModel}). Sequences leave as
 * soon as they finish. {@link Mode#MERGE_PER_REQUEST} is the naive way kept for comparison: one request at a time,
 * its adapter merged into the base weights before and taken out after.
 */
public final class BatchScheduler implements AutoCloseable {
    /** How requests for different adapters share the model. */
    public enum Mode { MIXED, MERGE_PER_REQUEST }

    private final CausalLanguageModel model;
    private final MultiAdapterModel adapters;
    private final int maxBatch;
    private final Mode mode;
    private final ServeMetrics metrics;
    private final LinkedBlockingQueue<GenerationRequest> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean running = true;

    public BatchScheduler(CausalLanguageModel model, MultiAdapterModel adapters, int maxBatch, Mode mode, ServeMetrics metrics) {
        if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be >= 1, got " + maxBatch);
        this.model = model;
        this.adapters = adapters;
        this.maxBatch = maxBatch;
        this.mode = mode;
        this.metrics = metrics;
        this.thread = Thread.ofPlatform().name("lora4j-scheduler").daemon().start(this::loop);
    }

    public Mode mode() {
        return mode;
    }

    /** Queues a request; its events arrive on the request as the scheduler produces them. */
    public void submit(GenerationRequest r) {
        if (!running) throw new IllegalStateException("the scheduler is shut down");
        queue.add(r);
    }

    /** Requests waiting for a place in the batch. */
    public int waiting() {
        return queue.size();
    }

    private void loop() {
        List<GenerationRequest> active = new ArrayList<>();
        while (running) {
            try {
                if (active.isEmpty()) {
                    GenerationRequest r = queue.poll(100, TimeUnit.MILLISECONDS);
                    if (r == null) continue;
                    admit(r, active);
                }
                if (mode == Mode.MERGE_PER_REQUEST) {
                    if (!active.isEmpty()) serveMerged(active.remove(0));
                    continue;
                }
                while (active.size() < maxBatch) {
                    GenerationRequest r = queue.poll();
                    if (r == null) break;
                    admit(r, active);
                }
                step(active, true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (GenerationRequest r : active) r.emit(new GenerationRequest.Failed("the server is shutting down"));
        GenerationRequest r;
        while ((r = queue.poll()) != null) r.emit(new GenerationRequest.Failed("the server is shutting down"));
    }

    private void admit(GenerationRequest r, List<GenerationRequest> active) {
        metrics.queued((System.nanoTime() - r.arrivalNanos) * 1e-9);
        int maxNew = r.options.maxNewTokens();
        if (maxNew == 0) {
            r.emit(new GenerationRequest.Done(StopReason.MAX_NEW_TOKENS, r.prompt.length, 0));
            return;
        }
        r.cache = model.newCache(r.prompt.length + maxNew);
        r.sampler = new Sampler(r.options);
        r.rng = new SplittableRandom(r.options.seed());
        r.history = new int[r.prompt.length + maxNew];
        System.arraycopy(r.prompt, 0, r.history, 0, r.prompt.length);
        r.length = r.prompt.length;
        active.add(r);
    }

    /** The naive way: this request alone, its adapter merged into the base weights for its whole run. */
    private void serveMerged(GenerationRequest r) {
        ServedAdapter a = r.adapter();
        if (a != null) adapters.merge(a);
        try {
            List<GenerationRequest> one = new ArrayList<>(List.of(r));
            while (!one.isEmpty() && running) step(one, false);
        } finally {
            if (a != null) adapters.unmerge(a);
        }
    }

    /**
     * One forward pass over every active sequence (grouped by adapter), then one token sampled for each; finished,
     * cancelled and failed sequences leave {@code active}.
     */
    private void step(List<GenerationRequest> active, boolean segmented) {
        active.removeIf(r -> {
            if (r.cancelled()) r.emit(new GenerationRequest.Failed("cancelled"));
            return r.cancelled();
        });
        if (active.isEmpty()) return;
        // Rows of one adapter next to each other: one segment per adapter (base-only rows first, in no segment).
        Map<ServedAdapter, Integer> order = new IdentityHashMap<>();
        for (GenerationRequest r : active) if (r.adapter() != null) order.putIfAbsent(r.adapter(), order.size() + 1);
        active.sort((x, y) -> Integer.compare(x.adapter() == null ? 0 : order.get(x.adapter()), y.adapter() == null ? 0 : order.get(y.adapter())));
        int n = active.size();
        int[][] tokens = new int[n][];
        KvCache[] caches = new KvCache[n];
        int[] lengths = new int[n];
        ServedAdapter[] which = new ServedAdapter[n];
        for (int i = 0; i < n; i++) {
            GenerationRequest r = active.get(i);
            tokens[i] = r.prefilled() ? new int[] {r.lastToken} : r.prompt;
            caches[i] = r.cache;
            lengths[i] = tokens[i].length;
            which[i] = r.adapter();
        }
        metrics.batch(n);
        float[] logits;
        try {
            AdapterSegments segments = segmented ? AdapterSegments.of(lengths, which) : null;
            logits = adapters.withSegments(segments, () -> model.forwardCachedBatch(tokens, caches));
        } catch (RuntimeException e) {
            // A broken batch fails its requests, never the server.
            for (GenerationRequest r : active) r.emit(new GenerationRequest.Failed("generation failed: " + e));
            active.clear();
            return;
        }
        int vocab = model.vocabSize(), row = 0;
        List<GenerationRequest> finished = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            GenerationRequest r = active.get(i);
            row += lengths[i];
            int next = r.sampler.sample(logits, (row - 1) * vocab, vocab, r.history, r.length, r.rng);
            r.history[r.length++] = next;
            r.generated++;
            r.lastToken = next;
            metrics.generatedTokens(1);
            r.emit(new GenerationRequest.Token(next));
            StopReason reason = r.options.stopTokenIds().contains(next) ? StopReason.STOP_TOKEN
                : r.generated == r.options.maxNewTokens() ? StopReason.MAX_NEW_TOKENS : null;
            if (reason != null) {
                metrics.latency((System.nanoTime() - r.arrivalNanos) * 1e-9);
                r.emit(new GenerationRequest.Done(reason, r.prompt.length, r.generated));
                finished.add(r);
            }
        }
        active.removeAll(finished);
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
