package dev.lora4j.kernel;

/**
 * A frozen weight matrix [rows, cols] (row-major) kept in a compressed format and widened to F32 a run of
 * elements at a time: inside GEMM's packing of the B operand, or a few rows at a time when A has only a few rows
 * ({@link Gemm#nt(int, int, int, float[], QuantizedMatrix, float[], boolean)}), so a quantized base weight is never
 * held as a full F32 copy.
 */
public sealed interface QuantizedMatrix permits Nf4Matrix, Int8Matrix {
    int rows();

    int cols();

    /** Decodes {@code count} consecutive elements starting at row-major element {@code index} into {@code dst}. */
    void decode(long index, float[] dst, int dstOff, int count);

    /** Bytes this matrix occupies: codes plus every scale and constant needed to decode it. */
    long storageBytes();

    /** The whole matrix widened to F32 (for merging an adapter into it, or for tests). */
    default float[] dequantize() {
        float[] out = new float[Math.multiplyExact(rows(), cols())];
        decode(0, out, 0, out.length);
        return out;
    }

    /** Storage bytes per element, scales included. */
    default double bytesPerParameter() {
        return (double) storageBytes() / ((long) rows() * cols());
    }
}
