package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** GEMM and embedding lookups reading a frozen weight in place from a segment equal the heap-array versions. */
class GemmSegmentTest {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Writes w into a segment in the given format and returns the values as that format rounds them. */
    static float[] store(float[] w, SegmentFormat f, MemorySegment seg) {
        float[] rounded = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            switch (f) {
                case F32 -> { seg.setAtIndex(F32, i, w[i]); rounded[i] = w[i]; }
                case BF16 -> {
                    short bits = (short) (Float.floatToRawIntBits(w[i]) >>> 16);  // truncation: any rounding will do here
                    seg.setAtIndex(I16, i, bits);
                    rounded[i] = Float.intBitsToFloat((bits & 0xFFFF) << 16);
                }
                case F16 -> {
                    short bits = Float.floatToFloat16(w[i]);
                    seg.setAtIndex(I16, i, bits);
                    rounded[i] = Float.float16ToFloat(bits);
                }
            }
        }
        return rounded;
    }

    @ParameterizedTest
    @EnumSource(SegmentFormat.class)
    void ntAndNnMatchTheHeapKernels(SegmentFormat f) {
        Random rnd = new Random(3);
        int m = 37, n = 70, k = 300;  // edge tiles in every direction, more than one K block
        float[] a = GemmTest.random(rnd, m * k), w = GemmTest.random(rnd, n * k);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate((long) w.length * f.bytes());
            float[] rounded = store(w, f, seg);
            float[] expected = new float[m * n], actual = new float[m * n];
            Gemm.nt(m, n, k, a, rounded, expected, false);
            Gemm.nt(m, n, k, a, seg, f, actual, false);
            assertArrayEquals(expected, actual, 0f, "nt: same packed values, same arithmetic");
            // W read as [K = n, N = k] for the input-gradient layout.
            float[] dy = GemmTest.random(rnd, m * n), e2 = new float[m * k], a2 = new float[m * k];
            Gemm.nn(m, k, n, dy, rounded, e2, false);
            Gemm.nn(m, k, n, dy, seg, f, a2, false);
            assertArrayEquals(e2, a2, 0f, "nn");
            assertThrows(IllegalArgumentException.class, () -> Gemm.nt(m, n + 1, k, a, seg, f, new float[m * (n + 1)], false));
        }
    }

    @ParameterizedTest
    @EnumSource(SegmentFormat.class)
    void embeddingGatherFromSegment(SegmentFormat f) {
        Random rnd = new Random(4);
        int vocab = 50, dim = 19;
        float[] table = GemmTest.random(rnd, vocab * dim);
        int[] ids = {3, 49, 0, 3};
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate((long) table.length * f.bytes());
            float[] rounded = store(table, f, seg);
            float[] expected = new float[ids.length * dim], actual = new float[ids.length * dim];
            EmbeddingKernel.gather(rounded, dim, ids, expected);
            EmbeddingKernel.gather(seg, f, dim, ids, actual);
            assertArrayEquals(expected, actual, 0f);
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernel.gather(seg, f, dim, new int[] {50}, new float[dim]));
        }
    }
}
