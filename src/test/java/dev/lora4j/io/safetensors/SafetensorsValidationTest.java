package dev.lora4j.io.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static dev.lora4j.io.safetensors.TestFiles.f32;
import static dev.lora4j.io.safetensors.TestFiles.file;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each rule of the format broken by one hand-made file; the message must name the file and what is wrong. */
class SafetensorsValidationTest {
    private static final String FILE_NAME = "victim.safetensors";
    private static final byte[] DATA12 = new byte[12];
    /** A valid header: a is F32[2] at [0, 8), b is F32[1] at [8, 12). */
    private static final String GOOD = "{" + f32("a", "[2]", 0, 8) + "," + f32("b", "[1]", 8, 12) + "}";

    private static Arguments rejected(String label, byte[] file, String... fragments) {
        return Arguments.of(label, file, List.of(fragments));
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static Stream<Arguments> brokenFiles() {
        byte[] good = file(GOOD, DATA12);
        return Stream.of(
                rejected("shorter than the length field", TestFiles.bytes(1, 2, 3), "3 bytes", "too short"),
                rejected("header length zero", file(0, utf8(GOOD), DATA12), "header length is 0"),
                rejected("header length negative", file(-1, utf8(GOOD), DATA12), "header length is -1"),
                rejected("header length over 100 MB", file(100_000_001, utf8(GOOD), DATA12),
                        "header length is 100000001", "expected 1 to 100000000"),
                rejected("header length past EOF", file(GOOD.length() + 13, utf8(GOOD), DATA12),
                        "header length is " + (GOOD.length() + 13), "only " + (GOOD.length() + 12), "truncated"),
                rejected("truncated data", Arrays.copyOf(good, good.length - 1), "'b'", "data ends at byte 12",
                        "only 11 bytes", "truncated"),
                rejected("truncated inside the header", Arrays.copyOf(good, 20), "header length is " + GOOD.length(),
                        "truncated"),
                rejected("bad JSON", file("{\"a\":{\"dtype\":", DATA12), "not valid JSON"),
                rejected("trailing text after the object", file(GOOD + " x", DATA12), "not valid JSON"),
                rejected("not UTF-8", notUtf8(), "not valid UTF-8"),
                rejected("header not an object", file("[1,2]", DATA12), "JSON object", "array"),
                rejected("whitespace header", file("        ", new byte[0]), "JSON object"),
                rejected("duplicate key", file("{" + f32("a", "[2]", 0, 8) + "," + f32("a", "[1]", 8, 12) + "}", DATA12),
                        "not valid JSON", "Duplicate", "a"),
                rejected("entry not an object", file("{\"a\":5}", DATA12), "tensor 'a'", "must be an object"),
                rejected("missing dtype", file("{\"a\":{\"shape\":[3],\"data_offsets\":[0,12]}}", DATA12),
                        "tensor 'a'", "dtype must be a string", "nothing"),
                rejected("unknown dtype", file(GOOD.replaceFirst("F32", "F33"), DATA12), "tensor 'a'",
                        "unknown dtype 'F33'", "BF16"),
                rejected("negative shape", file(GOOD.replace("[2]", "[-2]"), DATA12), "tensor 'a'", "shape[0]", "-2"),
                rejected("fractional shape", file(GOOD.replace("[2]", "[2.0]"), DATA12), "tensor 'a'", "shape[0]", "2.0"),
                rejected("shape past a long", file(GOOD.replace("[2]", "[99999999999999999999]"), DATA12),
                        "tensor 'a'", "shape[0]", "99999999999999999999"),
                rejected("shape not an array", file(GOOD.replace("[2]", "2"), DATA12), "tensor 'a'", "shape must be"),
                rejected("element count overflows", file(GOOD.replace("[2]", "[4294967296,4294967296,4]"), DATA12),
                        "tensor 'a'", "more bytes than a long"),
                rejected("byte count overflows", file(GOOD.replace("[2]", "[4611686018427387904]"), DATA12),
                        "tensor 'a'", "more bytes than a long"),
                rejected("size mismatch", file(GOOD.replace("[2]", "[3]"), DATA12), "tensor 'a'",
                        "span 8 bytes", "F32[3] needs 12"),
                rejected("offsets reversed", file("{" + f32("a", "[0]", 8, 4) + "}", DATA12), "tensor 'a'",
                        "end before they begin"),
                rejected("three offsets", file("{" + f32("a", "[2]", 0, 8).replace("8]", "8,12]") + "}", DATA12),
                        "tensor 'a'", "data_offsets must be an array of 2"),
                rejected("overlap", file("{" + f32("a", "[2]", 0, 8) + "," + f32("b", "[1]", 4, 8) + "}", DATA12),
                        "tensor 'b'", "overlaps tensor 'a'"),
                rejected("gap between tensors", file("{" + f32("a", "[2]", 0, 8) + "," + f32("b", "[1]", 12, 16) + "}",
                        new byte[16]), "tensor 'b'", "gap of 4 bytes after tensor 'a'"),
                rejected("gap at the start", file("{" + f32("a", "[2]", 4, 12) + "}", DATA12), "tensor 'a'",
                        "gap of 4 bytes after the start"),
                rejected("data not covering the end", file(GOOD, new byte[16]), "cover 12 bytes", "holds 16",
                        "4 bytes belong to no tensor"),
                rejected("stray data, no tensors", file("{}", new byte[4]), "4 bytes belong to no tensor"),
                rejected("metadata value not a string", file("{\"__metadata__\":{\"k\":1}," + GOOD.substring(1), DATA12),
                        "__metadata__", "'k'", "number"),
                rejected("metadata not an object", file("{\"__metadata__\":\"pt\"," + GOOD.substring(1), DATA12),
                        "__metadata__", "must be an object"));
    }

    /** The good header with tensor a's name turned into byte 0xFF, which no UTF-8 text contains. */
    private static byte[] notUtf8() {
        byte[] header = utf8(GOOD);
        header[GOOD.indexOf("\"a\"") + 1] = (byte) 0xFF;
        return file(header.length, header, DATA12);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("brokenFiles")
    void brokenFileIsRejectedWithAClearMessage(String label, byte[] bytes, List<String> fragments, @TempDir Path dir)
            throws Exception {
        Path path = dir.resolve(FILE_NAME);
        Files.write(path, bytes);
        var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(path).close(), label);
        String message = e.getMessage();
        assertTrue(message.startsWith(path.toString()), message);
        for (String fragment : fragments) {
            assertTrue(message.contains(fragment), () -> "'" + fragment + "' not in: " + message);
        }
        assertEquals(path, e.file());
    }

    @Test
    void theBaseOfTheBrokenFilesIsValid(@TempDir Path dir) throws Exception {
        Path path = dir.resolve(FILE_NAME);
        Files.write(path, file(GOOD, DATA12));
        try (SafetensorsFile f = SafetensorsFile.open(path)) {
            assertEquals(List.of("a", "b"), f.names());
        }
        Files.write(path, file("{}", new byte[0]));
        try (SafetensorsFile f = SafetensorsFile.open(path)) {
            assertEquals(List.of(), f.names());
        }
    }

    @Test
    void tensorNameIsReportedStructurally(@TempDir Path dir) throws Exception {
        Path path = dir.resolve(FILE_NAME);
        Files.write(path, file(GOOD.replace("[2]", "[3]"), DATA12));
        var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(path));
        assertEquals("a", e.tensor());
    }
}
