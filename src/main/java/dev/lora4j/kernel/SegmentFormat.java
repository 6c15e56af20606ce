package dev.lora4j.kernel;

/** How a frozen weight's elements are stored in a memory segment (a mapped checkpoint): little-endian floats. */
public enum SegmentFormat {
    F32(4), F16(2), BF16(2);

    private final int bytes;

    SegmentFormat(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }
}
