package dev.lora4j.io.safetensors;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's header entry: its dtype, its shape and where its bytes lie, as [begin, end) offsets from the
 * start of the data region (the byte after the header), exactly as the file's "data_offsets" says.
 *
 * <p>The shape is long[] because a valid file may name dimensions no int holds (a [3000000000, 0] tensor has no
 * bytes); whether it fits a lora4j {@link dev.lora4j.tensor.Shape} is checked only when one is asked for.
 */
public record TensorInfo(String name, SafetensorsDType dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    /** A copy: the record stays immutable. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Product of the dimensions; a scalar (rank 0) has one. Validated on open not to overflow. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public long byteSize() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return Names.quote(name) + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
