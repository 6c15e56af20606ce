package dev.lora4j.model.llama;

import dev.lora4j.kernel.Gemm;

/**
 * Attention of a few new query tokens over a key/value cache (decoding; no gradient). The cache holds
 * {@code past + tokens} rows of [kvHeads·headDim] (the new tokens' keys and values already appended); new token i
 * is at position past + i and sees keys 0 .. past + i. Per query head: S = Q_h·K_gᵀ with Gemm on the strided head
 * slices, a masked row softmax, then out_h = P·V_g, so the cost is the attention itself and nothing more.
 */
final class CachedAttention {
    private CachedAttention() {}

    /**
     * @param q   [tokens, heads·headDim], rotated
     * @param k   cached keys, rows [0, past + tokens) valid, [.., kvHeads·headDim], rotated
     * @param v   cached values, same layout as k
     * @param out [tokens, heads·headDim], overwritten
     */
    static void forward(float[] q, float[] k, float[] v, float[] out, int tokens, int past, int heads, int kvHeads,
                        int headDim, float scale) {
        int keys = past + tokens;
        int ldq = heads * headDim, ldkv = kvHeads * headDim, group = heads / kvHeads;
        float[] s = new float[tokens * keys];
        for (int h = 0; h < heads; h++) {
            int qOff = h * headDim, kvOff = (h / group) * headDim;
            Gemm.nt(tokens, keys, headDim, q, qOff, ldq, k, kvOff, ldkv, s, 0, keys, false);
            for (int i = 0; i < tokens; i++) {
                int row = i * keys, len = past + i + 1;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    float x = s[row + j] * scale;
                    s[row + j] = x;
                    if (x > max) max = x;
                }
                float sum = 0f;
                for (int j = 0; j < len; j++) {
                    float e = (float) Math.exp(s[row + j] - max);
                    s[row + j] = e;
                    sum += e;
                }
                float inv = 1f / sum;
                for (int j = 0; j < len; j++) s[row + j] *= inv;
                java.util.Arrays.fill(s, row + len, row + keys, 0f);
            }
            Gemm.nn(tokens, headDim, keys, s, 0, keys, v, kvOff, ldkv, out, qOff, ldq, false);
        }
    }
}
