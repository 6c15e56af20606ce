package dev.lora4j.kernel;

/**
 * INT8 with one symmetric absmax scale per row (bitsandbytes' vector-wise int8): q = round(w·127/absmax_row),
 * w ≈ q·absmax_row/127. One byte per element plus four per row.
 */
public final class Int8Matrix implements QuantizedMatrix {
    private final int rows;
    private final int cols;
    private final byte[] codes;
    private final float[] rowAbsmax;
    /** absmax/127 per row, kept so that decoding is one multiply per element. */
    private final float[] rowScale;

    private Int8Matrix(int rows, int cols, byte[] codes, float[] rowAbsmax) {
        this.rows = rows;
        this.cols = cols;
        this.codes = codes;
        this.rowAbsmax = rowAbsmax;
        this.rowScale = new float[rows];
        for (int r = 0; r < rows; r++) rowScale[r] = rowAbsmax[r] * (1f / 127f);
    }

    /** Quantizes a row-major [rows, cols] matrix; rounding is half to even, as torch.round. */
    public static Int8Matrix quantize(float[] w, int rows, int cols) {
        if (rows < 0 || cols < 0 || (long) rows * cols != w.length) {
            throw new IllegalArgumentException("int8: " + w.length + " elements are not a [" + rows + ", " + cols + "] matrix");
        }
        byte[] q = new byte[w.length];
        float[] absmax = new float[rows];
        for (int r = 0; r < rows; r++) {
            float m = 0;
            for (int c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
            absmax[r] = m;
            if (m == 0) continue;
            float s = 127f / m;
            for (int c = 0; c < cols; c++) {
                q[r * cols + c] = (byte) Math.max(-127, Math.min(127, (int) Math.rint(w[r * cols + c] * s)));
            }
        }
        return new Int8Matrix(rows, cols, q, absmax);
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
            int row = (int) (index / cols);
            long rowEnd = Math.min(end, (long) (row + 1) * cols);
            float s = rowScale[row];
            for (long i = index; i < rowEnd; i++) dst[dstOff++] = codes[(int) i] * s;
            index = rowEnd;
        }
    }

    @Override
    public long storageBytes() {
        return codes.length + 4L * rowAbsmax.length;
    }

    /** The codes, row-major (a copy). */
    public byte[] codes() {
        return codes.clone();
    }

    /** The per-row absmax scales (a copy). */
    public float[] rowAbsmax() {
        return rowAbsmax.clone();
    }
}
