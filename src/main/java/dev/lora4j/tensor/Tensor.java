package dev.lora4j.tensor;

import dev.lora4j.kernel.QuantizedMatrix;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A dense F32 tensor: a {@link Shape} over a heap float array, which is what most kernels compute on; or a
 * frozen weight left in a memory-mapped checkpoint ({@link #mapped}, F32/BF16/F16), which GEMM and embedding
 * lookups read in place, so a model's weights are not held twice. The first call to {@link #data()} on a mapped
 * tensor widens it onto the heap (copy on write: merging an adapter into a mapped weight does exactly that).
 * A frozen weight may also be held {@link #quantized} (NF4, INT8): GEMM decodes it as it packs, and the first
 * {@link #data()} dequantizes it onto the heap in the same copy-on-write way.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Shape shape;
    private volatile float[] data;
    private final MemorySegment mapped;
    private final DType mappedType;
    private final QuantizedMatrix quantized;

    public Tensor(Shape shape, float[] data) {
        if (data.length != shape.size()) {
            throw new IllegalArgumentException("data has " + data.length + " elements, shape " + shape + " needs " + shape.size());
        }
        this.shape = shape;
        this.data = data;
        this.mapped = null;
        this.mappedType = null;
        this.quantized = null;
    }

    private Tensor(Shape shape, MemorySegment segment, DType dtype) {
        long need = (long) shape.size() * dtype.bytes();
        if (segment.byteSize() != need) {
            throw new IllegalArgumentException("segment has " + segment.byteSize() + " bytes, " + dtype + shape + " needs " + need);
        }
        this.shape = shape;
        this.mapped = segment;
        this.mappedType = dtype;
        this.quantized = null;
    }

    private Tensor(QuantizedMatrix q) {
        this.shape = Shape.of(q.rows(), q.cols());
        this.mapped = null;
        this.mappedType = null;
        this.quantized = q;
    }

    /** A [rows, cols] weight held quantized; read in place by GEMM until something asks for {@link #data()}. */
    public static Tensor quantized(QuantizedMatrix q) {
        return new Tensor(q);
    }

    /** The quantized matrix while no heap copy has been made, else null. */
    public QuantizedMatrix quantized() {
        return data == null ? quantized : null;
    }

    /** Bytes the elements occupy now: 4 per element on the heap, the mapped type's width, or the quantized size. */
    public long storageBytes() {
        if (data != null) return 4L * size();
        if (quantized != null) return quantized.storageBytes();
        return (long) size() * mappedType.bytes();
    }

    /** A tensor read in place from a (mapped) segment of little-endian F32, BF16 or F16 elements. */
    public static Tensor mapped(MemorySegment segment, DType dtype, Shape shape) {
        return new Tensor(shape, segment, dtype);
    }

    /** True while the elements live only in the mapped segment (no heap copy made yet). */
    public boolean isMapped() {
        return data == null;
    }

    /** The mapped segment, or null for a heap or quantized tensor. */
    public MemorySegment segment() {
        return mapped;
    }

    /** The element type of the mapped segment, or null for a heap tensor. */
    public DType mappedType() {
        return mappedType;
    }

    public static Tensor zeros(int... dims) {
        Shape s = Shape.of(dims);
        return new Tensor(s, new float[s.size()]);
    }

    public static Tensor of(float[] data, int... dims) {
        return new Tensor(Shape.of(dims), data);
    }

    /** Widens little-endian F32/F16/BF16 elements from a segment (e.g. a mapped safetensors file) onto the heap. */
    public static Tensor fromSegment(MemorySegment segment, DType dtype, Shape shape) {
        int n = shape.size();
        long need = (long) n * dtype.bytes();
        if (segment.byteSize() != need) {
            throw new IllegalArgumentException("segment has " + segment.byteSize() + " bytes, " + dtype + shape + " needs " + need);
        }
        float[] out = new float[n];
        switch (dtype) {
            case F32 -> MemorySegment.copy(segment, F32_LE, 0, out, 0, n);
            case BF16 -> { for (int i = 0; i < n; i++) out[i] = DType.bf16ToFloat(segment.getAtIndex(I16_LE, i)); }
            case F16 -> { for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(segment.getAtIndex(I16_LE, i)); }
        }
        return new Tensor(shape, out);
    }

    public Shape shape() {
        return shape;
    }

    /** The backing array, shared, not copied: kernels write into it. A mapped tensor is widened onto the heap first. */
    public float[] data() {
        float[] d = data;
        if (d == null) {
            synchronized (this) {
                if (data == null) data = quantized != null ? quantized.dequantize() : fromSegment(mapped, mappedType, shape).data;
                d = data;
            }
        }
        return d;
    }

    public int size() {
        return shape.size();
    }

    /** Same data, another shape of the same size. */
    public Tensor view(int... dims) {
        if (isMapped() && quantized != null) return Shape.of(dims).equals(shape) ? this : new Tensor(Shape.of(dims), data());
        return isMapped() ? new Tensor(Shape.of(dims), mapped, mappedType) : new Tensor(Shape.of(dims), data);
    }

    public Tensor copy() {
        return new Tensor(shape, data().clone());
    }

    @Override
    public String toString() {
        return "Tensor" + shape;
    }
}
