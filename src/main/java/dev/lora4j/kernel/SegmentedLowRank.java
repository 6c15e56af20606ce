package dev.lora4j.kernel;

/**
 * The low-rank half of serving many LoRA adapters in one batch (the idea of Punica's SGMV and S-LoRA): the rows
 * of a batch come in segments, each segment asks for its own adapter (A [r, in], B [out, r], scaling), and
 * y[rows of segment] += scaling · (x[rows] · Aᵀ) · Bᵀ. The frozen base product x·Wᵀ is one GEMM over all rows and
 * is computed elsewhere; rows that use no adapter are simply in no segment.
 *
 * <p>Segments run in parallel (each one's two thin GEMMs serially on one worker), because in decoding a segment
 * is a handful of rows and a rank of 4..64: splitting such a product over threads costs more than it computes.
 * A single segment gets the whole pool instead (prefill of one long prompt).
 */
public final class SegmentedLowRank {
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
        if (segments == 1) {
            segment(x, in, y, out, starts[0], ends[0], a[0], b[0], ranks[0], scales[0]);
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
