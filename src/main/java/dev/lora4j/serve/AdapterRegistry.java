package dev.lora4j.serve;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The adapters a server knows, by name, and the most recently used of them held in memory: at most
 * {@code capacity} loaded at once, the least recently used dropped first and read back from its directory when a
 * request asks for it again. Dropping or unloading an adapter only drops the registry's reference: a request
 * that already holds it computes with it to the end.
 *
 * @param <T> what an adapter becomes in memory (a {@link dev.lora4j.peft.ServedAdapter}, a classifier, ...)
 */
public final class AdapterRegistry<T> {
    /** Reads one adapter directory into memory. */
    @FunctionalInterface
    public interface Loader<T> {
        T load(String name, Path dir) throws IOException;
    }

    private final Loader<T> loader;
    private final int capacity;
    private final Map<String, Path> known = new LinkedHashMap<>();
    /** Access-ordered: the first entry is the least recently used. */
    private final LinkedHashMap<String, T> loaded = new LinkedHashMap<>(16, 0.75f, true);
    private final AtomicLong hits = new AtomicLong(), misses = new AtomicLong(), evictions = new AtomicLong();

    public AdapterRegistry(Loader<T> loader, int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("--max-adapters must be >= 1, got " + capacity);
        this.loader = loader;
        this.capacity = capacity;
    }

    /** Reads the adapter now (so a bad directory is refused at once) and registers it under {@code name}. */
    public synchronized T add(String name, Path dir) throws IOException {
        if (known.containsKey(name)) throw ApiException.badRequest("an adapter named '" + name + "' is already loaded; unload it first");
        T value = loader.load(name, dir);
        known.put(name, dir);
        put(name, value);
        return value;
    }

    /** Forgets the adapter; requests in flight that hold it finish with it. False when no such adapter exists. */
    public synchronized boolean remove(String name) {
        loaded.remove(name);
        return known.remove(name) != null;
    }

    public synchronized boolean contains(String name) {
        return known.containsKey(name);
    }

    /** The adapter, from memory or read back from disk (evicting the least recently used beyond capacity). */
    public synchronized T acquire(String name) {
        Path dir = known.get(name);
        if (dir == null) throw ApiException.modelNotFound(name);
        T value = loaded.get(name);
        if (value != null) {
            hits.incrementAndGet();
            return value;
        }
        misses.incrementAndGet();
        try {
            value = loader.load(name, dir);
        } catch (IOException | RuntimeException e) {
            // It loaded once, so the files changed or vanished since: the server's state, not the request, is at fault.
            throw new ApiException(500, "server_error", null, "adapter '" + name + "' could not be read again from " + dir + ": " + e.getMessage());
        }
        put(name, value);
        return value;
    }

    private void put(String name, T value) {
        loaded.put(name, value);
        while (loaded.size() > capacity) {
            String eldest = loaded.keySet().iterator().next();
            loaded.remove(eldest);
            evictions.incrementAndGet();
        }
    }

    /** Every registered adapter and its directory, in registration order. */
    public synchronized Map<String, Path> known() {
        return new LinkedHashMap<>(known);
    }

    public synchronized int inMemory() {
        return loaded.size();
    }

    public synchronized boolean isInMemory(String name) {
        return loaded.containsKey(name);
    }

    public long hits() {
        return hits.get();
    }

    public long misses() {
        return misses.get();
    }

    public long evictions() {
        return evictions.get();
    }
}
