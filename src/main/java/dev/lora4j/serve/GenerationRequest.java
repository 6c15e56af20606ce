package dev.lora4j.serve;

import dev.lora4j.generate.GenerationResult;
import dev.lora4j.generate.Sampler;
import dev.lora4j.generate.SamplingOptions;
import dev.lora4j.model.KvCache;
import dev.lora4j.peft.ServedAdapter;
import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One sequence to generate, as the {@link BatchScheduler} serves it: the prompt, how to sample, the adapter it
 * started with (null = the base model), and the events (each token, then the end) that the HTTP side reads as
 * they come. The scheduler's per-sequence state (KV cache, sampler, history) lives here too and is touched by
 * the scheduler thread only.
 */
public final class GenerationRequest {
    /** What happens to a request, in order: tokens, then exactly one {@link Done} or {@link Failed}. */
    public sealed interface Event {}

    public record Token(int id) implements Event {}

    public record Done(GenerationResult.StopReason reason, int promptTokens, int generatedTokens) implements Event {}

    public record Failed(String message) implements Event {}

    final int[] prompt;
    final SamplingOptions options;
    final ServedAdapter adapter;
    final long arrivalNanos = System.nanoTime();
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;

    // Scheduler state.
    KvCache cache;
    Sampler sampler;
    SplittableRandom rng;
    int[] history;
    int length;
    int generated;
    int lastToken = -1;

    /** @param adapter the adapter to apply, or null for the base model */
    public GenerationRequest(int[] prompt, SamplingOptions options, ServedAdapter adapter) {
        if (prompt.length == 0) throw ApiException.badRequest("the prompt is empty");
        this.prompt = prompt.clone();
        this.options = options;
        this.adapter = adapter;
    }

    public ServedAdapter adapter() {
        return adapter;
    }

    public int promptTokens() {
        return prompt.length;
    }

    /** The next event, waiting at most {@code seconds}; null on timeout. */
    public Event next(double seconds) throws InterruptedException {
        return events.poll((long) (seconds * 1e9), TimeUnit.NANOSECONDS);
    }

    /** The client went away: the scheduler drops the sequence at its next step. */
    public void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    void emit(Event e) {
        events.add(e);
    }

    /** Whether the prompt has gone through the model (then each step feeds the last token). */
    boolean prefilled() {
        return lastToken >= 0;
    }
}
