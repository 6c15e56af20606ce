package dev.lora4j.io.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.tensor.DType;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsRoundTripTest {
    /** Shapes of every rank the brief names, including empty and scalar; inserted out of name order. */
    private static Map<String, Tensor> sample() {
        Random random = new Random(7);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        int[][] shapes = {{3, 5}, {0}, {1}, {}, {2, 3, 4}};
        String[] names = {"z.weight", "empty", "one", "scalar", "a.b.c"};
        for (int i = 0; i < shapes.length; i++) {
            Tensor t = Tensor.zeros(shapes[i]);
            for (int j = 0; j < t.size(); j++) t.data()[j] = (float) random.nextGaussian() * 3;
            tensors.put(names[i], t);
        }
        // Values that exercise rounding ties, subnormals, infinities and NaN in the narrow types.
        tensors.put("edge", Tensor.of(new float[]{0f, -0f, 1f + 0x1p-8f, 1f + 0x1p-11f, 65504f, 1e-8f,
                Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1e30f, -3.14159f}, 12));
        return tensors;
    }

    private static float narrowed(float f, SafetensorsDType dtype) {
        return switch (dtype) {
            case F32 -> f;
            case BF16 -> DType.bf16ToFloat(DType.floatToBf16(f));
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(f));
            default -> throw new AssertionError(dtype);
        };
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void writtenTensorsReadBack(SafetensorsDType dtype, @TempDir Path dir) throws Exception {
        Map<String, Tensor> tensors = sample();
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("lora4j", "yes"), dtype);

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("a.b.c", "edge", "empty", "one", "scalar", "z.weight"), f.names());
            assertEquals(Map.of("format", "pt", "lora4j", "yes"), f.metadata());
            for (var e : tensors.entrySet()) {
                Tensor back = f.tensor(e.getKey());
                assertEquals(e.getValue().shape(), back.shape(), e.getKey());
                assertEquals(dtype, f.info(e.getKey()).dtype());
                float[] expected = e.getValue().data().clone();
                for (int i = 0; i < expected.length; i++) expected[i] = narrowed(expected[i], dtype);
                // assertArrayEquals compares floats bit-for-bit modulo NaN payloads: exact, -0 included.
                assertArrayEquals(expected, back.data(), e.getKey());
            }
        }
        assertEquals(List.of("model.safetensors"), listing(dir), "no temporary file left behind");
    }

    @Test
    void layoutMatchesPythonSafetensors(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("m.safetensors");
        SafetensorsWriter.write(file, sample(), Map.of("format", "np-overridden"), SafetensorsDType.BF16);
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, (8 + n) % 8, "data starts 8-byte aligned");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{"), header);
        String json = header.stripTrailing();
        assertTrue(json.endsWith("}") && header.length() - json.length() < 8, "at most 7 bytes of padding");
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces");

        JsonNode root = new ObjectMapper().readTree(header);
        assertEquals("np-overridden", root.get("__metadata__").get("format").textValue());
        List<String> keys = new ArrayList<>();
        root.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("__metadata__", "a.b.c", "edge", "empty", "one", "scalar", "z.weight"), keys);
        // Data back to back in key order, ending exactly at the end of the file.
        long expected = 0;
        for (String k : keys.subList(1, keys.size())) {
            JsonNode offsets = root.get(k).get("data_offsets");
            assertEquals(expected, offsets.get(0).longValue(), k);
            expected = offsets.get(1).longValue();
        }
        assertEquals(bytes.length - 8 - n, expected);
        assertEquals("[3,5]", root.get("z.weight").get("shape").toString());
        assertEquals("[]", root.get("scalar").get("shape").toString());
    }

    @Test
    void namesSortByCodePointLikeRust(@TempDir Path dir) throws Exception {
        // U+FF5E sorts before U+1F600 by code point (and in UTF-8) but after it in UTF-16 (0xD83D < 0xFF5E).
        Map<String, Tensor> tensors = Map.of("\uFF5E", Tensor.zeros(1), "\uD83D\uDE00", Tensor.zeros(1), "a", Tensor.zeros(1));
        Path file = dir.resolve("u.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("a", "\uFF5E", "\uD83D\uDE00"), f.names());
            assertEquals(0, f.info("a").begin());
            assertEquals(4, f.info("\uFF5E").begin());
            assertEquals(8, f.info("\uD83D\uDE00").begin());
        }
    }

    @Test
    void overwritesAnExistingFileWhole(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("x.safetensors");
        Files.writeString(file, "old contents, longer than the new file will be ".repeat(20));
        SafetensorsWriter.write(file, Map.of("t", Tensor.of(new float[]{4, 5}, 2)), Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[]{4, 5}, f.tensor("t").data());
        }
        assertEquals(List.of("x.safetensors"), listing(dir));
    }

    @Test
    void failedWriteLeavesNoTemporaryFile(@TempDir Path dir) throws Exception {
        Path blocker = dir.resolve("taken");
        Files.createDirectories(blocker.resolve("child"));
        assertThrows(java.io.IOException.class,
                () -> SafetensorsWriter.write(blocker, Map.of("t", Tensor.zeros(2)), Map.of()));
        assertEquals(List.of("taken"), listing(dir));
    }

    @Test
    void rejectsWhatItCannotWrite(@TempDir Path dir) {
        Path file = dir.resolve("bad.safetensors");
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, Map.of("__metadata__", Tensor.zeros(1)), Map.of()));
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, Map.of("t", Tensor.zeros(1)), Map.of(), SafetensorsDType.I64));
        assertTrue(Files.notExists(file));
    }

    @Test
    void shardedReaderOpensASingleFileDirectory(@TempDir Path dir) throws Exception {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), sample(), Map.of());
        try (ShardedSafetensors model = ShardedSafetensors.open(dir)) {
            assertEquals(6, model.names().size());
            assertEquals(Shape.of(2, 3, 4), model.tensor("a.b.c").shape());
        }
        try (ShardedSafetensors model = ShardedSafetensors.openFile(dir.resolve("model.safetensors"))) {
            assertTrue(model.contains("edge"));
        }
    }

    private static List<String> listing(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
