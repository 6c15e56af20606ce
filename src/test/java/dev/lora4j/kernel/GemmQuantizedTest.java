package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import java.util.function.BiFunction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** GEMM with a quantized B decoded during packing equals dequantize-then-F32-GEMM, exactly. */
class GemmQuantizedTest {
    static QuantizedMatrix quantize(String format, float[] w, int rows, int cols) {
        return switch (format) {
            case "nf4" -> Nf4Matrix.quantize(w, rows, cols);
            case "int8" -> Int8Matrix.quantize(w, rows, cols);
            default -> throw new IllegalArgumentException(format);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"nf4", "int8"})
    void ntAndNnEqualDequantizedGemm(String format) {
        Random rnd = new Random(11);
        // Edge tiles in every direction, K not a multiple of the NF4 block, more than one K block (KC 256),
        // rows of W crossing NF4 blocks; a tiny serial case and an odd element count.
        int[][] shapes = {{37, 70, 300}, {1, 5, 3}, {7, 33, 65}, {64, 129, 520}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            float[] a = GemmTest.random(rnd, m * k), w = GemmTest.random(rnd, n * k);
            QuantizedMatrix q = quantize(format, w, n, k);
            float[] dense = q.dequantize();
            float[] expected = new float[m * n], actual = new float[m * n];
            Gemm.nt(m, n, k, a, dense, expected, false);
            Gemm.nt(m, n, k, a, q, actual, false);
            // Dense F32 with few rows may take the skinny (unpacked) kernel, which sums in another order: a few ulps.
            assertArrayEquals(expected, actual, 2e-5f, "nt " + java.util.Arrays.toString(s));
            // The same W [n, k] as the B [K = n, N = k] of the input gradient dX = dY·W, accumulating.
            float[] dy = GemmTest.random(rnd, m * n), e2 = GemmTest.random(rnd, m * k), a2 = e2.clone();
            Gemm.nn(m, k, n, dy, dense, e2, true);
            Gemm.nn(m, k, n, dy, q, a2, true);
            assertArrayEquals(e2, a2, 2e-5f, "nn " + java.util.Arrays.toString(s));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nf4", "int8"})
    void wrongShapeIsAnError(String format) {
        QuantizedMatrix q = quantize(format, new float[6 * 10], 6, 10);
        assertThrows(IllegalArgumentException.class, () -> Gemm.nt(2, 10, 6, new float[12], q, new float[20], false));
        assertThrows(IllegalArgumentException.class, () -> Gemm.nn(2, 6, 10, new float[20], q, new float[12], false));
    }
}
