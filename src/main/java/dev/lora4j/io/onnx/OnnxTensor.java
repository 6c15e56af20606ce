package dev.lora4j.io.onnx;

import dev.lora4j.tensor.Tensor;

import java.util.Arrays;

/**
 * One ONNX TensorProto, decoded: an initializer (a weight) or the value of a Constant node. Dimensions are
 * row-major as stored. Element data is decoded for {@link #FLOAT} (into {@link #floats()}) and {@link #INT64} /
 * {@link #INT32} (widened into {@link #longs()}); a tensor of another type keeps its name, type and dims, and
 * asking for its data throws an {@link UnsupportedOperationException} that names it.
 *
 * <p>A record over arrays: the arrays are shared, not copied, and equality is identity of the arrays.
 */
public record OnnxTensor(String name, long[] dims, int dataType, float[] floats, long[] longs) {
    /** TensorProto.DataType values this reader knows by name. */
    public static final int FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7,
            STRING = 8, BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, BFLOAT16 = 16;

    /** The number of elements the dims describe (1 for a scalar). */
    public long elementCount() {
        long n = 1;
        for (long d : dims) n *= d;
        return n;
    }

    /** The float elements; throws unless the tensor is FLOAT. */
    @Override
    public float[] floats() {
        if (floats == null) throw unsupported("FLOAT (1)");
        return floats;
    }

    /** The integer elements (INT64, or INT32 widened); throws unless the tensor is one of those. */
    @Override
    public long[] longs() {
        if (longs == null) throw unsupported("INT64 (7) or INT32 (6)");
        return longs;
    }

    /** The dims as ints, for {@link dev.lora4j.tensor.Shape}. */
    public int[] intDims() {
        int[] out = new int[dims.length];
        for (int i = 0; i < dims.length; i++) out[i] = Math.toIntExact(dims[i]);
        return out;
    }

    /** A lora4j tensor over the same float array (not copied), same shape. */
    public Tensor toTensor() {
        return Tensor.of(floats(), intDims());
    }

    /** A FLOAT matrix [rows, cols] transposed into a new [cols, rows] tensor. */
    public Tensor toTensorTransposed() {
        if (dims.length != 2) {
            throw new IllegalArgumentException("tensor '" + name + "' has shape " + Arrays.toString(dims) + "; only a matrix can be transposed");
        }
        float[] src = floats();
        int rows = Math.toIntExact(dims[0]);
        int cols = Math.toIntExact(dims[1]);
        float[] dst = new float[src.length];
        // Blocked so both sides stay in cache: a 1536x384 matrix would otherwise stride through memory.
        final int block = 64;
        for (int r0 = 0; r0 < rows; r0 += block) {
            int r1 = Math.min(rows, r0 + block);
            for (int c0 = 0; c0 < cols; c0 += block) {
                int c1 = Math.min(cols, c0 + block);
                for (int r = r0; r < r1; r++) {
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
        return Tensor.of(dst, cols, rows);
    }

    /** "FLOAT", "INT64", ... or "type N" for a code this reader does not name. */
    public static String typeName(int dataType) {
        return switch (dataType) {
            case FLOAT -> "FLOAT";
            case UINT8 -> "UINT8";
            case INT8 -> "INT8";
            case UINT16 -> "UINT16";
            case INT16 -> "INT16";
            case INT32 -> "INT32";
            case INT64 -> "INT64";
            case STRING -> "STRING";
            case BOOL -> "BOOL";
            case FLOAT16 -> "FLOAT16";
            case DOUBLE -> "DOUBLE";
            case UINT32 -> "UINT32";
            case UINT64 -> "UINT64";
            case BFLOAT16 -> "BFLOAT16";
            default -> "type " + dataType;
        };
    }

    private UnsupportedOperationException unsupported(String wanted) {
        return new UnsupportedOperationException("ONNX tensor '" + name + "' has data type " + typeName(dataType)
                + " (" + dataType + "); only " + wanted + " data is decoded here");
    }

    @Override
    public String toString() {
        return "OnnxTensor['" + name + "' " + typeName(dataType) + Arrays.toString(dims) + "]";
    }
}
