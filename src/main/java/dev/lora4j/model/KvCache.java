package dev.lora4j.model;

/**
 * Keys and values of the tokens a decoder has already seen, per layer, so that generating token t costs one
 * token's forward pass instead of t. Stored [position, kvHeads·headDim] per layer, grown on demand.
 */
public final class KvCache {
    private final int layers;
    private final int width;
    private final float[][] keys;
    private final float[][] values;
    private int length;

    /** @param width kvHeads·headDim, the row width of one layer's K and V */
    public KvCache(int layers, int width, int initialCapacity) {
        this.layers = layers;
        this.width = width;
        this.keys = new float[layers][Math.max(1, initialCapacity) * width];
        this.values = new float[layers][Math.max(1, initialCapacity) * width];
    }

    /** Tokens already cached. */
    public int length() {
        return length;
    }

    public int layers() {
        return layers;
    }

    public int width() {
        return width;
    }

    /** Layer l's keys, rows [0, length + appended) valid; capacity may exceed that. */
    public float[] keys(int layer) {
        return keys[layer];
    }

    public float[] values(int layer) {
        return values[layer];
    }

    /** Copies {@code count} new rows of K and V for one layer at positions [length, length + count). */
    public void append(int layer, float[] k, float[] v, int count) {
        append(layer, k, v, 0, count);
    }

    /** As {@link #append(int, float[], float[], int)}, reading k and v from row {@code fromRow} on (a batch's slice). */
    public void append(int layer, float[] k, float[] v, int fromRow, int count) {
        ensureCapacity(layer, length + count);
        System.arraycopy(k, fromRow * width, keys[layer], length * width, count * width);
        System.arraycopy(v, fromRow * width, values[layer], length * width, count * width);
    }

    /** Called once per forward after every layer appended: the new tokens become part of the cache. */
    public void advance(int count) {
        length += count;
    }

    /** Forgets everything (a new sequence). */
    public void clear() {
        length = 0;
    }

    private void ensureCapacity(int layer, int tokens) {
        if (keys[layer].length >= tokens * width) return;
        int cap = Math.max(tokens, keys[layer].length / width * 2);
        keys[layer] = java.util.Arrays.copyOf(keys[layer], cap * width);
        values[layer] = java.util.Arrays.copyOf(values[layer], cap * width);
    }
}
