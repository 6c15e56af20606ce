package dev.lora4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** A mapped tensor is read in place until written; the first heap access widens it, once. */
class MappedTensorTest {
    @Test
    void widensOnFirstHeapAccessOnly() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(6 * 2);
            float[] values = {1.5f, -2f, 0.25f, 3f, -0.5f, 8f};
            for (int i = 0; i < 6; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, DType.floatToBf16(values[i]));
            Tensor t = Tensor.mapped(seg, DType.BF16, Shape.of(2, 3));
            assertTrue(t.isMapped());
            assertEquals(6, t.size());
            assertSame(seg, t.segment());
            assertEquals(DType.BF16, t.mappedType());
            float[] d = t.data();
            assertArrayEquals(values, d, 0f, "these values are exact in bf16");
            assertFalse(t.isMapped(), "after a heap access the heap copy is the tensor");
            assertSame(d, t.data(), "widened once");
            d[0] = 42f;
            assertEquals(42f, t.data()[0], "writes go to the heap copy");
        }
    }

    @Test
    void sizeMismatchIsAnError() {
        try (Arena arena = Arena.ofShared()) {
            assertThrows(IllegalArgumentException.class, () -> Tensor.mapped(arena.allocate(10), DType.F32, Shape.of(3)));
        }
    }
}
