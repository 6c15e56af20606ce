package dev.lora4j.serve;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How `lora4j serve` runs.
 *
 * @param model        the base: a built-in name, a Hugging Face directory or a Hub id; also the name requests use
 * @param adapters     adapters to load at start, by name
 * @param host         the address to bind (loopback unless told otherwise)
 * @param port         0 picks a free port
 * @param maxAdapters  adapters held in memory at once (least recently used dropped, re-read on demand)
 * @param maxBatch     sequences decoded together in one step
 * @param apiKey       when non-null, /v1/ endpoints need {@code Authorization: Bearer <apiKey>}
 * @param maxTokensCap the largest max_tokens a request may ask for
 * @param maxSeqLen    the longest input of an encoder (embeddings, classification), in tokens; longer ones are truncated
 * @param mode         how requests for different adapters share the model
 */
public record ServerConfig(String model, Map<String, Path> adapters, String host, int port, int maxAdapters, int maxBatch,
                           String apiKey, int maxTokensCap, int maxSeqLen, BatchScheduler.Mode mode) {
    public ServerConfig {
        adapters = new LinkedHashMap<>(adapters);
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], got " + port);
        if (maxTokensCap < 1) throw new IllegalArgumentException("--max-tokens-cap must be >= 1, got " + maxTokensCap);
    }

    /** Loopback, an ephemeral port, 8 adapters in memory, batches of 16, no key, max_tokens up to 512. */
    public static ServerConfig defaults(String model) {
        return new ServerConfig(model, Map.of(), "127.0.0.1", 0, 8, 16, null, 512, 256, BatchScheduler.Mode.MIXED);
    }

    public ServerConfig withAdapters(Map<String, Path> v) {
        return new ServerConfig(model, v, host, port, maxAdapters, maxBatch, apiKey, maxTokensCap, maxSeqLen, mode);
    }

    public ServerConfig withApiKey(String v) {
        return new ServerConfig(model, adapters, host, port, maxAdapters, maxBatch, v, maxTokensCap, maxSeqLen, mode);
    }

    public ServerConfig withMaxAdapters(int v) {
        return new ServerConfig(model, adapters, host, port, v, maxBatch, apiKey, maxTokensCap, maxSeqLen, mode);
    }

    public ServerConfig withMaxBatch(int v) {
        return new ServerConfig(model, adapters, host, port, maxAdapters, v, apiKey, maxTokensCap, maxSeqLen, mode);
    }

    public ServerConfig withMaxTokensCap(int v) {
        return new ServerConfig(model, adapters, host, port, maxAdapters, maxBatch, apiKey, v, maxSeqLen, mode);
    }

    public ServerConfig withMode(BatchScheduler.Mode v) {
        return new ServerConfig(model, adapters, host, port, maxAdapters, maxBatch, apiKey, maxTokensCap, maxSeqLen, v);
    }
}
