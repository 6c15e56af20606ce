package dev.lora4j.kernel;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.io.safetensors.SafetensorsFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * NF4 (double-quantized) and int8 against bitsandbytes' algorithm re-implemented in PyTorch
 * (tools/make_quant_fixtures.py), and the error bounds and storage sizes the formats promise.
 */
class QuantizedMatrixTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/quant/quant.safetensors");

    static float[] floats(SafetensorsFile f, String name) {
        return f.tensor(name).data();
    }

    static byte[] bytes(SafetensorsFile f, String name) {
        return f.segment(name).toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void dynamicMapIsBitsandbytes() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURE)) {
            float[] expected = floats(f, "dynamic_map"), actual = Nf4Matrix.dynamicMapValues();
            assertEquals(256, actual.length);
            for (int i = 0; i < 256; i++) assertEquals(expected[i], actual[i], Math.ulp(expected[i]), "value " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nf4_big", "nf4_odd"})
    void nf4MatchesBitsandbytes(String name) throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURE)) {
            float[] w = floats(f, name + ".weight");
            int rows = (int) f.info(name + ".weight").shape()[0], cols = (int) f.info(name + ".weight").shape()[1];
            Nf4Matrix q = Nf4Matrix.quantize(w, rows, cols);
            assertArrayEquals(bytes(f, name + ".codes"), q.codes(), "packed 4-bit codes");
            assertEquals(floats(f, name + ".offset")[0], q.scaleOffset(), Math.ulp(q.scaleOffset()), "mean of the absmaxes");
            assertArrayEquals(bytes(f, name + ".qabsmax"), q.scaleCodes(), "8-bit codes of the absmaxes");
            float[] absmax2 = floats(f, name + ".absmax2");
            assertArrayEquals(absmax2, q.scaleAbsmax(), 2 * Math.ulp(absmax2[0]), "second-level absmax");
            float[] expected = floats(f, name + ".dequant"), actual = q.dequantize();
            for (int i = 0; i < w.length; i++) {
                assertEquals(expected[i], actual[i], 1e-6f * Math.max(1f, Math.abs(expected[i])), "element " + i);
            }
        }
    }

    @Test
    void int8MatchesBitsandbytes() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURE)) {
            float[] w = floats(f, "int8.weight");
            Int8Matrix q = Int8Matrix.quantize(w, 9, 70);
            assertArrayEquals(bytes(f, "int8.codes"), q.codes());
            assertArrayEquals(floats(f, "int8.row_absmax"), q.rowAbsmax(), 0f);
            assertArrayEquals(floats(f, "int8.dequant"), q.dequantize(), 1e-6f);
        }
    }

    /**
     * |w' − w| ≤ half the widest NF4 gap (0.1519, between −1 and −0.6962) times the block absmax, plus the error of
     * the double-quantized absmax itself, which is at most half the widest dynamic-map gap (0.0075) times the
     * second-level absmax.
     */
    @Test
    void nf4ErrorBound() {
        Random rnd = new Random(5);
        int rows = 300, cols = 129;  // rows cross block boundaries; 605 blocks, 3 absmax blocks
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * (i % 7 == 0 ? 0.3 : 0.02));
        Nf4Matrix q = Nf4Matrix.quantize(w, rows, cols);
        float[] d = q.dequantize();
        float[] scale2 = q.scaleAbsmax();
        for (int b = 0; b * 64 < w.length; b++) {
            float absmax = 0;
            for (int i = b * 64; i < Math.min(w.length, b * 64 + 64); i++) absmax = Math.max(absmax, Math.abs(w[i]));
            float scaleErr = 0.0075f * scale2[b / 256];
            assertEquals(absmax, q.blockAbsmax(b), scaleErr * 1.001f, "absmax of block " + b);
            for (int i = b * 64; i < Math.min(w.length, b * 64 + 64); i++) {
                assertEquals(w[i], d[i], 0.1520f * absmax + scaleErr * 1.001f, "element " + i);
            }
        }
    }

    @Test
    void int8ErrorBound() {
        Random rnd = new Random(6);
        int rows = 17, cols = 301;
        float[] w = GemmTest.random(rnd, rows * cols);
        float[] d = Int8Matrix.quantize(w, rows, cols).dequantize();
        for (int r = 0; r < rows; r++) {
            float absmax = 0;
            for (int c = 0; c < cols; c++) absmax = Math.max(absmax, Math.abs(w[r * cols + c]));
            for (int c = 0; c < cols; c++) assertEquals(w[r * cols + c], d[r * cols + c], absmax / 254 * 1.0001f);
        }
    }

    @Test
    void decodingAnyRunEqualsTheWholeMatrix() {
        Random rnd = new Random(7);
        float[] w = GemmTest.random(rnd, 13 * 77);
        for (QuantizedMatrix q : new QuantizedMatrix[] {Nf4Matrix.quantize(w, 13, 77), Int8Matrix.quantize(w, 13, 77)}) {
            float[] all = q.dequantize();
            for (int[] run : new int[][] {{0, 1}, {1, 1}, {63, 2}, {65, 130}, {76, 80}, {999, 2}, {1, 999}}) {
                float[] part = new float[run[1] + 3];
                q.decode(run[0], part, 3, run[1]);
                for (int i = 0; i < run[1]; i++) assertEquals(all[run[0] + i], part[3 + i], 0f, q + " run " + run[0] + "+" + i);
            }
        }
    }

    @Test
    void zerosStayZero() {
        float[] w = new float[3 * 100];
        w[250] = 0.5f;  // one non-zero block among zero blocks; int8: two all-zero rows
        for (QuantizedMatrix q : new QuantizedMatrix[] {Nf4Matrix.quantize(w, 3, 100), Int8Matrix.quantize(w, 3, 100)}) {
            float[] d = q.dequantize();
            for (int i = 0; i < w.length; i++) if (i < 192) assertEquals(0f, d[i], 0f, "element " + i);
            assertEquals(0.5f, d[250], 0.5f * 0.01f);
        }
    }

    /** 0.5 bytes of code, 1/64 of an 8-bit scale, 4/(64·256) of a second-level scale: about 0.516 bytes per weight. */
    @Test
    void storageSize() {
        float[] w = new float[576 * 576];
        Nf4Matrix q = Nf4Matrix.quantize(w, 576, 576);
        long n = w.length;
        assertEquals(n / 2 + n / 64 + 4 * ((n / 64 + 255) / 256) + 4, q.storageBytes());
        assertEquals(Nf4Matrix.storageBytes(n), q.storageBytes());
        assertEquals(171160, q.storageBytes());
        assertTrue(q.bytesPerParameter() <= 0.52, "NF4 " + q.bytesPerParameter());
        assertEquals(Nf4Matrix.storageBytes(129), Nf4Matrix.quantize(new float[129], 3, 43).storageBytes());
        Int8Matrix i8 = Int8Matrix.quantize(w, 576, 576);
        assertEquals(n + 4 * 576, i8.storageBytes());
    }

    @Test
    void shapeMismatchIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> Nf4Matrix.quantize(new float[10], 3, 3));
        assertThrows(IllegalArgumentException.class, () -> Int8Matrix.quantize(new float[10], 3, 3));
    }
}
