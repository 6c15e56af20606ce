package dev.lora4j.kernel;

/**
 * Attention of n new query rows over a KV cache, for decoding (no gradient): the new tokens sit at positions
 * past .. past+n−1 and their keys/values have already been appended, so query i sees keys 0 .. past+i.
 * Layouts as {@link dev.lora4j.kernel.Attention}'s: q and out [n, heads·headDim], keys and values
 * [past+n (or more), kvHeads·headDim]. Parallel over heads; per head S = Q·Kᵀ and out = P·V with Gemm on
 * strided head slices.
 *
 * <p>Used by every decoder's KV-cache path (GPT-2, Llama, Mistral, Qwen2; grouped kv heads included).
 */
public final class CachedAttention {
    private CachedAttention() {}

    public static void forward(float[] q, float[] keys, float[] values, float[] out, int n, int past,
                        int heads, int kvHeads, int headDim, float scale) {
        forward(q, keys, values, out, 0, n, past, heads, kvHeads, headDim, scale);
    }

    /**
     * As above for rows [row, row + n) of q and out (one sequence of a batch whose rows are laid end to end);
     * the cache is that sequence's own.
     */
    public static void forward(float[] q, float[] keys, float[] values, float[] out, int row, int n, int past,
                        int heads, int kvHeads, int headDim, float scale) {
        if (heads % kvHeads != 0) throw new IllegalArgumentException("heads " + heads + " not a multiple of kvHeads " + kvHeads);
        int total = past + n, ldq = heads * headDim, ldkv = kvHeads * headDim, group = heads / kvHeads;
        if (q.length < (row + n) * ldq || out.length < (row + n) * ldq) {
            throw new IllegalArgumentException("q/out hold fewer than " + (row + n) + " rows of " + ldq);
        }
        if (keys.length < total * ldkv || values.length < total * ldkv) {
            throw new IllegalArgumentException("cache holds fewer than " + total + " rows of " + ldkv);
        }
        Parallel.parallelFor(0, heads, h -> {
            int qOff = row * ldq + h * headDim, kvOff = (h / group) * headDim;
            float[] p = new float[n * total];
            Gemm.nt(n, total, headDim, q, qOff, ldq, keys, kvOff, ldkv, p, 0, total, false);
            for (int i = 0; i < n; i++) {
                int off = i * total, len = past + i + 1;
                VectorMath.scale(p, off, len, scale);
                float max = VectorMath.max(p, off, len);
                double sum = 0;
                for (int j = 0; j < len; j++) {
                    float e = (float) Math.exp(p[off + j] - max);
                    p[off + j] = e;
                    sum += e;
                }
                VectorMath.scale(p, off, len, (float) (1 / sum));
                java.util.Arrays.fill(p, off + len, off + total, 0f);
            }
            Gemm.nn(n, headDim, total, p, 0, total, values, kvOff, ldkv, out, qOff, ldq, false);
        });
    }
}
