package dev.lora4j.io.safetensors;

import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.lora4j.io.safetensors.TestFiles.bytes;
import static dev.lora4j.io.safetensors.TestFiles.concat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reader against a file whose every byte the test spells out: the oracle does not share code with it. */
class SafetensorsHandBuiltTest {
    // Keys in neither name nor data order, data in yet another order, padding spaces as Python writes them.
    static final String HEADER = "{"
            + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[28,36]},"
            + "\"__metadata__\":{\"format\":\"pt\",\"note\":\"hand \\u00e9\"},"
            + "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
            + "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[2,2],\"data_offsets\":[24,28]},"
            + "\"h\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[36,40]},"
            + "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[40,42]},"
            + "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[42,50]},"
            + "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[50,52]},"
            + "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[52,52]}"
            + "}    ";

    static final byte[] DATA = concat(
            bytes(0x01, 0, 0, 0, 0, 0, 0, 0),                                   // ids: 1
            bytes(0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF),              //      -2
            bytes(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F),              //      Long.MAX_VALUE
            bytes(1, 0, 0, 2),                                                  // mask: T F F T(2 reads true)
            bytes(0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x10, 0xC0),              // w: 1.5f, -2.25f
            bytes(0x00, 0x3C, 0x00, 0xC0),                                      // h: 1.0, -2.0 (F16)
            bytes(0x80, 0x3F),                                                  // b: 1.0 (BF16)
            bytes(0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x00, 0x00),              // i32: -1, 7
            bytes(0xFF, 0x05));                                                 // u8: 255, 5

    @Test
    void readsEveryDtypeOfAHandBuiltFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("hand.safetensors");
        Files.write(file, TestFiles.file(HEADER, DATA));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("b", "empty", "h", "i32", "ids", "mask", "u8", "w"), f.names());
            assertEquals(Map.of("format", "pt", "note", "hand \u00e9"), f.metadata());
            assertEquals(file, f.path());

            assertArrayEquals(new long[]{1, -2, Long.MAX_VALUE}, f.longs("ids"));
            assertArrayEquals(new long[]{1, 0, 0, 1}, f.longs("mask"));
            assertArrayEquals(new long[]{-1, 7}, f.longs("i32"));
            assertArrayEquals(new long[]{255, 5}, f.longs("u8"));

            Tensor w = f.tensor("w");
            assertEquals(Shape.of(2), w.shape());
            assertArrayEquals(new float[]{1.5f, -2.25f}, w.data());
            Tensor h = f.tensor("h");
            assertEquals(Shape.of(1, 2), h.shape());
            assertArrayEquals(new float[]{1.0f, -2.0f}, h.data());
            Tensor b = f.tensor("b");
            assertEquals(Shape.of(), b.shape());
            assertArrayEquals(new float[]{1.0f}, b.data());
            assertEquals(Shape.of(0, 4), f.tensor("empty").shape());

            TensorInfo mask = f.info("mask");
            assertEquals(new TensorInfo("mask", SafetensorsDType.BOOL, new long[]{2, 2}, 24, 28), mask);
            assertEquals(4, mask.elementCount());
            assertEquals(1, f.info("b").elementCount());

            // Zero-copy: the segment is the file's own bytes at 8 + N + begin.
            var seg = f.segment("w");
            assertEquals(8, seg.byteSize());
            assertEquals(1.5f, seg.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0));
            assertTrue(seg.isReadOnly());
        }
    }

    @Test
    void askingForTheWrongThingSaysWhatIsThere(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("hand.safetensors");
        Files.write(file, TestFiles.file(HEADER, DATA));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            var unknown = assertThrows(IllegalArgumentException.class, () -> f.tensor("wx"));
            assertTrue(unknown.getMessage().contains("hand.safetensors"), unknown.getMessage());
            assertTrue(unknown.getMessage().contains("'wx'"), unknown.getMessage());
            assertTrue(unknown.getMessage().contains("'w'"), unknown.getMessage());
            assertFalse(f.contains("wx"));

            var notFloat = assertThrows(IllegalArgumentException.class, () -> f.tensor("ids"));
            assertTrue(notFloat.getMessage().contains("I64") && notFloat.getMessage().contains("'ids'")
                    && notFloat.getMessage().contains("not a float type"), notFloat.getMessage());
            var notInt = assertThrows(IllegalArgumentException.class, () -> f.longs("w"));
            assertTrue(notInt.getMessage().contains("F32"), notInt.getMessage());
        }
    }

    @Test
    void closedFileRefusesReads(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("hand.safetensors");
        Files.write(file, TestFiles.file(HEADER, DATA));
        SafetensorsFile f = SafetensorsFile.open(file);
        var seg = f.segment("ids");
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, () -> seg.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void zeroSizedDimensionsPastAnIntOpenButDoNotBecomeTensors(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("wide.safetensors");
        Files.write(file, TestFiles.file("{" + TestFiles.f32("z", "[3000000000,0]", 0, 0) + "}", new byte[0]));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new long[]{3_000_000_000L, 0}, f.info("z").shape());
            assertEquals(0, f.segment("z").byteSize());
            var e = assertThrows(IllegalArgumentException.class, () -> f.tensor("z"));
            assertTrue(e.getMessage().contains("wide.safetensors") && e.getMessage().contains("'z'"), e.getMessage());
        }
    }
}
