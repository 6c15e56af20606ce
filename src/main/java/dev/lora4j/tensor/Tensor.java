package dev.lora4j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A dense F32 tensor: a {@link Shape} over a heap float array, which is what every kernel computes on.
 * Weights stored narrower (BF16, F16) or off-heap (a memory-mapped file) are widened into one on load by
 * {@link #fromSegment}.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Shape shape;
    private final float[] data;

    public Tensor(Shape shape, float[] data) {
        if (data.length != shape.size()) {
            throw new IllegalArgumentException("data has " + data.length + " elements, shape " + shape + " needs " + shape.size());
        }
        this.shape = shape;
        this.data = data;
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

    /** The backing array, shared, not copied: kernels write into it. */
    public float[] data() {
        return data;
    }

    public int size() {
        return data.length;
    }

    /** Same data, another shape of the same size. */
    public Tensor view(int... dims) {
        return new Tensor(Shape.of(dims), data);
    }

    public Tensor copy() {
        return new Tensor(shape, data.clone());
    }

    @Override
    public String toString() {
        return "Tensor" + shape;
    }
}
