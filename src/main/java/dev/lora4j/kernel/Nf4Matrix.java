package dev.lora4j.kernel;

/**
 * 4-bit NormalFloat (NF4) with double quantization, as the QLoRA paper defines it and bitsandbytes stores it
 * ({@code quantize_4bit(quant_type="nf4", blocksize=64, compress_statistics=True)}):
 * <ul>
 *   <li>the row-major elements in blocks of {@value #BLOCK}, each scaled by its absmax into [-1, 1] and
 *       rounded to the nearest of the 16 {@link #NF4} values; two codes a byte, the even element in the high nibble;</li>
 *   <li>the block absmaxes, less their mean (one FP32 offset), quantized again to 8 bits with bitsandbytes' signed
 *       dynamic map ({@link #DYNAMIC_MAP}) in blocks of {@value #SCALE_BLOCK}, each with its own FP32 absmax.</li>
 * </ul>
 * Decoding: w = NF4[code] · (DYNAMIC_MAP[scaleCode] · scaleAbsmax[block / 256] + offset). Storage per element:
 * 1/2 + 1/64 + 4/(64·256) bytes, about 0.516 (plus 4 bytes per matrix).
 */
public final class Nf4Matrix implements QuantizedMatrix {
    /** Elements per first-level block. */
    public static final int BLOCK = 64;
    /** First-level blocks per second-level (absmax) block. */
    public static final int SCALE_BLOCK = 256;

    /** The 16 NF4 values of the QLoRA paper (Appendix E), as bitsandbytes tabulates them. */
    private static final float[] NF4 = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
    private static final int NF4_ZERO = 7;

    /** bitsandbytes' create_dynamic_map(signed=True): the 8-bit code the block absmaxes are stored in. */
    private static final float[] DYNAMIC_MAP = dynamicMap();

    private final int rows;
    private final int cols;
    private final byte[] codes;
    private final byte[] scaleCodes;
    private final float[] scaleAbsmax;
    private final float scaleOffset;

    private Nf4Matrix(int rows, int cols, byte[] codes, byte[] scaleCodes, float[] scaleAbsmax, float scaleOffset) {
        this.rows = rows;
        this.cols = cols;
        this.codes = codes;
        this.scaleCodes = scaleCodes;
        this.scaleAbsmax = scaleAbsmax;
        this.scaleOffset = scaleOffset;
    }

    /** The 16 NF4 code values (a copy). */
    public static float[] codeValues() {
        return NF4.clone();
    }

    /** The 256 values of the 8-bit dynamic map used for the block scales (a copy). */
    public static float[] dynamicMapValues() {
        return DYNAMIC_MAP.clone();
    }

    /** Bytes an NF4 matrix of {@code n} elements occupies: codes, 8-bit block scales, FP32 second-level scales, offset. */
    public static long storageBytes(long n) {
        long blocks = (n + BLOCK - 1) / BLOCK;
        long scaleBlocks = (blocks + SCALE_BLOCK - 1) / SCALE_BLOCK;
        return (n + 1) / 2 + blocks + 4 * scaleBlocks + 4;
    }

    /**
     * Quantizes a row-major [rows, cols] matrix. Each element is scaled by the reciprocal of its block's absmax
     * (as bitsandbytes does, a multiply, not a division) and the nearest code is taken, the lower one on a tie.
     */
    public static Nf4Matrix quantize(float[] w, int rows, int cols) {
        if (rows < 0 || cols < 0 || (long) rows * cols != w.length) {
            throw new IllegalArgumentException("nf4: " + w.length + " elements are not a [" + rows + ", " + cols + "] matrix");
        }
        int n = w.length;
        int blocks = (n + BLOCK - 1) / BLOCK;
        float[] absmax = new float[blocks];
        byte[] codes = new byte[(n + 1) / 2];
        for (int b = 0; b < blocks; b++) {
            int from = b * BLOCK, to = Math.min(n, from + BLOCK);
            float m = 0;
            for (int i = from; i < to; i++) m = Math.max(m, Math.abs(w[i]));
            absmax[b] = m;
            float inv = 1f / m;
            for (int i = from; i < to; i++) {
                int code = m == 0 ? NF4_ZERO : nearest(NF4, Math.max(-1f, Math.min(1f, w[i] * inv)));
                codes[i >> 1] |= (byte) ((i & 1) == 0 ? code << 4 : code);
            }
        }
        // An odd element count leaves the last low nibble as padding; bitsandbytes pads with 0.0, code 7.
        if ((n & 1) == 1) codes[n >> 1] |= NF4_ZERO;

        // Double quantization: centre the absmaxes on their mean, then 8-bit blockwise with the dynamic map.
        double sum = 0;
        for (float a : absmax) sum += a;
        float offset = blocks == 0 ? 0f : (float) (sum / blocks);
        int scaleBlocks = (blocks + SCALE_BLOCK - 1) / SCALE_BLOCK;
        byte[] scaleCodes = new byte[blocks];
        float[] scaleAbsmax = new float[scaleBlocks];
        int dynamicZero = nearest(DYNAMIC_MAP, 0f);
        for (int s = 0; s < scaleBlocks; s++) {
            int from = s * SCALE_BLOCK, to = Math.min(blocks, from + SCALE_BLOCK);
            float m = 0;
            for (int b = from; b < to; b++) m = Math.max(m, Math.abs(absmax[b] - offset));
            scaleAbsmax[s] = m;
            float inv = 1f / m;
            for (int b = from; b < to; b++) {
                int code = m == 0 ? dynamicZero : nearest(DYNAMIC_MAP, Math.max(-1f, Math.min(1f, (absmax[b] - offset) * inv)));
                scaleCodes[b] = (byte) code;
            }
        }
        return new Nf4Matrix(rows, cols, codes, scaleCodes, scaleAbsmax, offset);
    }

    /** Index of the value of the ascending {@code table} nearest to x, the lowest index on a tie (torch.argmin). */
    private static int nearest(float[] table, float x) {
        int lo = 0, hi = table.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (table[mid] < x) lo = mid + 1;
            else hi = mid;
        }
        // lo: first value >= x; the nearest is it or its lower neighbour.
        if (lo > 0 && Math.abs(x - table[lo - 1]) <= Math.abs(x - table[lo])) lo--;
        while (lo > 0 && table[lo - 1] == table[lo]) lo--;
        return lo;
    }

    /** The FP32 absmax of first-level block {@code b}, decoded from its 8-bit code. */
    public float blockAbsmax(int b) {
        return DYNAMIC_MAP[scaleCodes[b] & 0xFF] * scaleAbsmax[b / SCALE_BLOCK] + scaleOffset;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public void decode(long index, float[] dst, int dstOff, int count) {
        long end = index + count;
        while (index < end) {
            // One block at a time: its scale is decoded once for up to 64 elements.
            int block = (int) (index / BLOCK);
            long blockEnd = Math.min(end, (long) (block + 1) * BLOCK);
            float scale = blockAbsmax(block);
            long i = index;
            if ((i & 1) == 1) {
                dst[dstOff++] = NF4[codes[(int) (i >> 1)] & 0xF] * scale;
                i++;
            }
            for (; i + 1 < blockEnd; i += 2) {
                int b = codes[(int) (i >> 1)];
                dst[dstOff++] = NF4[(b >> 4) & 0xF] * scale;
                dst[dstOff++] = NF4[b & 0xF] * scale;
            }
            if (i < blockEnd) dst[dstOff++] = NF4[(codes[(int) (i >> 1)] >> 4) & 0xF] * scale;
            index = blockEnd;
        }
    }

    @Override
    public long storageBytes() {
        return codes.length + scaleCodes.length + 4L * scaleAbsmax.length + 4;
    }

    /** The packed 4-bit codes, two a byte, even element in the high nibble (bitsandbytes' uint8 layout; a copy). */
    public byte[] codes() {
        return codes.clone();
    }

    /** The 8-bit codes of the block absmaxes (bitsandbytes' quant_state.absmax; a copy). */
    public byte[] scaleCodes() {
        return scaleCodes.clone();
    }

    /** The FP32 absmax of each block of 256 scales (bitsandbytes' quant_state.state2.absmax; a copy). */
    public float[] scaleAbsmax() {
        return scaleAbsmax.clone();
    }

    /** The mean subtracted from the absmaxes before their quantization (bitsandbytes' quant_state.offset). */
    public float scaleOffset() {
        return scaleOffset;
    }

    /**
     * bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for exponent e = 0..6, the
     * 2^e midpoints of linspace(0.1, 1, 2^e + 1) scaled by 10^(e-6), with both signs; then 0 and 1; sorted. Computed
     * in double and rounded once: torch computes it in float32 with a linspace whose rounding depends on its version
     * and CPU, so values may differ from a given torch build's in the last bit (the fixture test allows one ulp).
     */
    private static float[] dynamicMap() {
        float[] out = new float[256];
        int k = 0;
        for (int e = 0; e < 7; e++) {
            int means = 1 << e;
            double p = Math.pow(10, e - 6), step = 0.9 / means;
            for (int j = 0; j < means; j++) {
                double mean = 0.1 + step * (j + 0.5);
                out[k++] = (float) (p * mean);
                out[k++] = (float) (-p * mean);
            }
        }
        out[k++] = 0f;
        out[k++] = 1f;
        if (k != 256) throw new AssertionError(k);
        java.util.Arrays.sort(out);
        return out;
    }
}
