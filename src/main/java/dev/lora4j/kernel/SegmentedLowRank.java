package dev.lora4j.kernel;

/**
 * The low-rank half of serving many LoRA adapters in one batch (the idea of Punica's SGMV and S-LoRA): the rows
 * of a batch come in segments, each segment asks for its own adapter (A [r, in], B [out, r], scaling), and
 * y[rows of segment] += scaling · (x[rows] · Aᵀ) · Bᵀ. The frozen base product x·Wᵀ is one GEMM over all rows and
 * is computed elsewhere; rows that use no adapter are simply in no segment.
 *
 * <p>In decoding a segment is a handful of rows and a rank of 4..64: the whole product is a few hundred
 * thousand flops, less than what waking the thread pool costs, so small batches run on the calling thread. Large
 * ones (prefill) run segments in parallel, each one's two thin GEMMs serially on one worker; a single large
 * segment gets the whole pool inside its GEMMs instead.
 */
public final class SegmentedLowRank {
    /** Below this much work a parallel loop costs more than it saves. */
    private static final long SERIAL_FLOPS = 4L << 20;

    private SegmentedLowRank() {}

    /**
     * @param x      inputs [rows, in]
     * @param y      outputs [rows, out], added to
     * @param starts first row of each segment; {@code ends[s]} is one past its last
     * @param a      per segment A [r_s, in]
     * @param b      per segment B [out, r_s]
     * @param ranks  per segment r_s
     * @param scales per segment scaling
     */
    public static void addTo(float[] x, int in, float[] y, int out, int[] starts, int[] ends, float[][] a, float[][] b,
                             int[] ranks, float[] scales) {
        int segments = starts.length;
        long flops = 0;
        for (int s = 0; s < segments; s++) flops += 2L * (ends[s] - starts[s]) * ranks[s] * (in + out);
        if (segments == 1 || flops < SERIAL_FLOPS) {
            for (int s = 0; s < segments; s++) segment(x, in, y, out, starts[s], ends[s], a[s], b[s], ranks[s], scales[s]);
            return;
        }
        Parallel.parallelFor(0, segments, s -> segment(x, in, y, out, starts[s], ends[s], a[s], b[s], ranks[s], scales[s]));
    }

    private static void segment(float[] x, int in, float[] y, int out, int start, int end, float[] a, float[] b, int r,
                                float scaling) {
        int m = end - start;
        if (m <= 0) return;
        float[] h = new float[m * r];
        Gemm.nt(m, r, in, x, start * in, in, a, 0, in, h, 0, r, false);
        VectorMath.scale(h, scaling, h.length);
        Gemm.nt(m, out, r, h, 0, r, b, 0, r, y, start * out, out, true);
    }
}
