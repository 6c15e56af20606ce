package dev.lora4j.tensor;

import java.util.Arrays;

/**
 * The dimensions of a tensor, row-major. Kernels see every tensor as a matrix of {@link #rows()} x
 * {@link #cols()}: all leading dimensions flattened into rows, the last one as columns.
 */
public record Shape(int... dims) {
    public Shape {
        dims = dims.clone();
        for (int d : dims) if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
    }

    public static Shape of(int... dims) {
        return new Shape(dims);
    }

    public int rank() {
        return dims.length;
    }

    public int dim(int i) {
        return dims[i < 0 ? dims.length + i : i];
    }

    public int[] dims() {
        return dims.clone();
    }

    /** Number of elements; a scalar (rank 0) has one. */
    public int size() {
        long n = 1;
        for (int d : dims) n *= d;
        return Math.toIntExact(n);
    }

    /** The last dimension (1 for a scalar). */
    public int cols() {
        return dims.length == 0 ? 1 : dims[dims.length - 1];
    }

    /** Product of all dimensions but the last. */
    public int rows() {
        int c = cols();
        return c == 0 ? 0 : size() / c;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
