package dev.lora4j.io.safetensors;

import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Thousands of corruptions of valid files. Each must end in a {@link SafetensorsFormatException} or in a file
 * that opens, honours the format's invariants, and reads every tensor: never another exception, never a hang.
 */
class SafetensorsFuzzTest {
    private static final long SEED = 20240611L;
    private static final int CASES_PER_KIND = 375;
    private static final String[] ODD_NUMBERS = {"1e30", "99999999999999999999", "-1", "1.5", "0", "-0", "1E2",
            "9223372036854775807", "9223372036854775808", "18446744073709551616", "4294967296", "2147483648",
            "4611686018427387904", "1" + "0".repeat(2000)};
    private static final String[] ODD_DTYPES = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL",
            "U64", "F8_E4M3", "F33", "", "f32", "F3"};
    private static final Pattern NUMBER = Pattern.compile("-?\\d+");
    /** Values whose products wrap a long to 0 or to a small number if multiplied unchecked. */
    private static final String[] WIDE_DIMS = {"2147483648", "4294967296", "2305843009213693952",
            "4611686018427387904", "9223372036854775807", "0", "1"};
    private static final Pattern SHAPE = Pattern.compile("\"shape\":\\[([^\\]]*)\\]");
    private static final Pattern DTYPE = Pattern.compile("\"dtype\":\"([^\"]*)\"");
    private static final Set<String> SIZE_CHANGING = Set.of("truncation", "extension", "header length field");
    private static final String JSON_CHARS = "{}[],:\"0123456789-.eE \\";

    @TempDir
    Path dir;

    private record Case(String description, byte[] bytes) {
    }

    /** Known-good files to corrupt: writer output in two dtypes, and the hand-built mixed-dtype file. */
    private List<byte[]> bases() throws Exception {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("layers.0.w", Tensor.of(new float[]{1, 2, 3, 4, 5, 6}, 2, 3));
        tensors.put("layers.0.b", Tensor.of(new float[]{-1, 0.5f}, 2));
        tensors.put("scalar", Tensor.of(new float[]{7}));
        tensors.put("empty", Tensor.zeros(0, 3));
        Path f32 = dir.resolve("base-f32.safetensors");
        Path bf16 = dir.resolve("base-bf16.safetensors");
        SafetensorsWriter.write(f32, tensors, Map.of("k", "v"));
        SafetensorsWriter.write(bf16, tensors, Map.of(), SafetensorsDType.BF16);
        return List.of(Files.readAllBytes(f32), Files.readAllBytes(bf16),
                TestFiles.file(SafetensorsHandBuiltTest.HEADER, SafetensorsHandBuiltTest.DATA));
    }

    @TestFactory
    Stream<DynamicTest> corruptFilesFailCleanly() throws Exception {
        List<byte[]> bases = bases();
        Map<String, BiFunction<byte[], Random, byte[]>> kinds = new LinkedHashMap<>();
        kinds.put("bit flips anywhere", (b, r) -> flipBits(b, r, 0, b.length));
        kinds.put("bit flips in the header", (b, r) -> flipBits(b, r, 0, (int) Math.min(b.length, 8 + headerLength(b))));
        kinds.put("truncation", (b, r) -> Arrays.copyOf(b, r.nextInt(b.length)));
        kinds.put("extension", (b, r) -> extend(b, r));
        kinds.put("header length field", SafetensorsFuzzTest::editLength);
        kinds.put("JSON edits, length fixed up", (b, r) -> editJson(b, r, true));
        kinds.put("JSON edits, length kept", (b, r) -> editJson(b, r, false));
        kinds.put("shape dimensions near overflow", SafetensorsFuzzTest::editShape);

        Random seeds = new Random(SEED);
        return kinds.entrySet().stream().map(kind -> {
            long seed = seeds.nextLong();
            return DynamicTest.dynamicTest(kind.getKey(), () -> assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
                Random random = new Random(seed);
                int opened = 0;
                for (int i = 0; i < CASES_PER_KIND; i++) {
                    int base = random.nextInt(bases.size());
                    byte[] bytes = kind.getValue().apply(bases.get(base).clone(), random);
                    if (check(new Case(kind.getKey() + " #" + i + " of base " + base + " (seed " + seed + ")", bytes))) {
                        opened++;
                    }
                }
                // Guards the fuzzer itself. Changing the file's size or the header's length can never leave a valid
                // file (the data would no longer be covered exactly); the other kinds must reach both outcomes,
                // or they test nothing past the first check.
                if (SIZE_CHANGING.contains(kind.getKey())) {
                    assertEquals(0, opened, kind.getKey() + ": a file of the wrong size opened");
                } else {
                    assertTrue(opened > 0 && opened < CASES_PER_KIND, kind.getKey() + ": " + opened + " of "
                            + CASES_PER_KIND + " corrupted files opened");
                }
            }));
        });
    }

    /** True if the file opened; fails the test on anything but a clean open or a format exception. */
    private boolean check(Case c) throws Exception {
        Path path = dir.resolve("fuzz.safetensors");
        Files.write(path, c.bytes());
        SafetensorsFile file;
        try {
            file = SafetensorsFile.open(path);
        } catch (SafetensorsFormatException e) {
            assertTrue(e.getMessage().startsWith(path.toString()), c.description() + ": " + e.getMessage());
            return false;
        } catch (Throwable t) {
            throw new AssertionError(c.description() + ": open threw " + t, t);
        }
        try (file) {
            checkInvariants(c, file);
            for (String name : file.names()) readFully(c, file, name);
        } catch (AssertionError e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(c.description() + ": reading an opened file threw " + t, t);
        }
        return true;
    }

    /** What open promises, checked independently: the tensors tile the data exactly, sizes agree. */
    private static void checkInvariants(Case c, SafetensorsFile file) {
        long dataSize = c.bytes().length - 8 - headerLength(c.bytes());
        List<TensorInfo> infos = new ArrayList<>(file.names().stream().map(file::info).toList());
        infos.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long at = 0;
        for (TensorInfo info : infos) {
            assertEquals(at, info.begin(), c.description());
            long elements = 1;
            for (long d : info.shape()) {
                assertTrue(d >= 0, c.description());
                elements = Math.multiplyExact(elements, d);
            }
            assertEquals(Math.multiplyExact(elements, info.dtype().bytes()), info.byteSize(), c.description());
            at = info.end();
        }
        assertEquals(dataSize, at, c.description());
    }

    private static void readFully(Case c, SafetensorsFile file, String name) {
        TensorInfo info = file.info(name);
        var segment = file.segment(name);
        long sum = 0;
        for (long i = 0; i < segment.byteSize(); i++) sum += segment.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i);
        assertTrue(sum != Long.MIN_VALUE);
        boolean fitsInts = Arrays.stream(info.shape()).allMatch(d -> d <= Integer.MAX_VALUE);
        if (info.dtype().toDType() != null) {
            if (fitsInts) {
                assertEquals(info.elementCount(), file.tensor(name).size(), c.description());
            } else {
                try {
                    file.tensor(name);
                    fail(c.description() + ": a shape past an int became a tensor");
                } catch (IllegalArgumentException expected) {
                    assertTrue(expected.getMessage().contains(file.path().toString()), expected.getMessage());
                }
            }
        } else if (info.dtype().isIntegral()) {
            assertEquals(info.elementCount(), file.longs(name).length, c.description());
        }
    }

    private static long headerLength(byte[] bytes) {
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }

    private static byte[] flipBits(byte[] b, Random r, int from, int to) {
        int flips = 1 + r.nextInt(8);
        for (int i = 0; i < flips; i++) b[from + r.nextInt(to - from)] ^= (byte) (1 << r.nextInt(8));
        return b;
    }

    private static byte[] extend(byte[] b, Random r) {
        byte[] out = Arrays.copyOf(b, b.length + 1 + r.nextInt(16));
        for (int i = b.length; i < out.length; i++) out[i] = (byte) r.nextInt(256);
        return out;
    }

    private static byte[] editLength(byte[] b, Random r) {
        long n = headerLength(b);
        long[] choices = {0, -1, Long.MIN_VALUE, Long.MAX_VALUE, r.nextLong(), n - 1 - r.nextInt(16),
                n + 1 + r.nextInt(16), b.length, b.length - 8, 100_000_001, 100_000_000, n - 8, n + 8};
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, choices[r.nextInt(choices.length)]);
        return b;
    }

    /** One dimension of one shape becomes huge (or 0 or 1); the length field follows the new text. */
    private static byte[] editShape(byte[] b, Random r) {
        int n = (int) headerLength(b);
        String json = new String(b, 8, n, StandardCharsets.UTF_8);
        List<int[]> dims = new ArrayList<>();
        Matcher shapes = SHAPE.matcher(json);
        while (shapes.find()) {
            Matcher m = NUMBER.matcher(json).region(shapes.start(1), shapes.end(1));
            while (m.find()) dims.add(new int[]{m.start(), m.end()});
        }
        int[] d = dims.get(r.nextInt(dims.size()));
        json = json.substring(0, d[0]) + WIDE_DIMS[r.nextInt(WIDE_DIMS.length)] + json.substring(d[1]);
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        return TestFiles.file(header.length, header, Arrays.copyOfRange(b, 8 + n, b.length));
    }

    /** One to three textual edits of the header; then either the length field follows the new text or not. */
    private static byte[] editJson(byte[] b, Random r, boolean fixLength) {
        int n = (int) headerLength(b);
        String json = new String(b, 8, n, StandardCharsets.UTF_8);
        int edits = 1 + r.nextInt(3);
        for (int e = 0; e < edits; e++) json = editOnce(json, r);
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        byte[] data = Arrays.copyOfRange(b, 8 + n, b.length);
        if (fixLength) return TestFiles.file(header.length, header, data);
        // Keep the old length: the new text runs into the data or leaves part of itself in front of it.
        return TestFiles.file(n, header, data);
    }

    private static String editOnce(String json, Random r) {
        if (json.isEmpty()) return json;
        int at = r.nextInt(json.length());
        switch (r.nextInt(7)) {
            case 0 -> { // change a digit
                Matcher m = NUMBER.matcher(json);
                List<int[]> spans = spans(m);
                if (spans.isEmpty()) return json;
                int[] s = spans.get(r.nextInt(spans.size()));
                int i = s[0] + r.nextInt(s[1] - s[0]);
                return Character.isDigit(json.charAt(i)) ? json.substring(0, i) + r.nextInt(10) + json.substring(i + 1) : json;
            }
            case 1 -> { // delete characters
                return json.substring(0, at) + json.substring(Math.min(json.length(), at + 1 + r.nextInt(3)));
            }
            case 2 -> { // insert a JSON-ish character
                return json.substring(0, at) + JSON_CHARS.charAt(r.nextInt(JSON_CHARS.length())) + json.substring(at);
            }
            case 3 -> { // duplicate a key, or add a plausible extra entry
                String name = r.nextBoolean() ? "__metadata__" : firstKey(json);
                String value = r.nextBoolean() ? "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}" : "{\"format\":\"pt\"}";
                int brace = json.indexOf('{');
                return brace < 0 ? json : json.substring(0, brace + 1) + "\"" + name + "\":" + value + "," + json.substring(brace + 1);
            }
            case 4 -> { // a number becomes huge, negative, fractional
                List<int[]> spans = spans(NUMBER.matcher(json));
                if (spans.isEmpty()) return json;
                int[] s = spans.get(r.nextInt(spans.size()));
                return json.substring(0, s[0]) + ODD_NUMBERS[r.nextInt(ODD_NUMBERS.length)] + json.substring(s[1]);
            }
            case 5 -> { // another dtype
                Matcher m = DTYPE.matcher(json);
                List<int[]> spans = new ArrayList<>();
                while (m.find()) spans.add(new int[]{m.start(1), m.end(1)});
                if (spans.isEmpty()) return json;
                int[] s = spans.get(r.nextInt(spans.size()));
                return json.substring(0, s[0]) + ODD_DTYPES[r.nextInt(ODD_DTYPES.length)] + json.substring(s[1]);
            }
            default -> { // swap two numbers
                List<int[]> spans = spans(NUMBER.matcher(json));
                if (spans.size() < 2) return json;
                int[] a = spans.get(r.nextInt(spans.size()));
                int[] c = spans.get(r.nextInt(spans.size()));
                if (a[0] >= c[0]) return json;
                return json.substring(0, a[0]) + json.substring(c[0], c[1]) + json.substring(a[1], c[0])
                        + json.substring(a[0], a[1]) + json.substring(c[1]);
            }
        }
    }

    private static List<int[]> spans(Matcher m) {
        List<int[]> spans = new ArrayList<>();
        while (m.find()) spans.add(new int[]{m.start(), m.end()});
        return spans;
    }

    private static String firstKey(String json) {
        int q = json.indexOf('"');
        int end = q < 0 ? -1 : json.indexOf('"', q + 1);
        return end < 0 ? "x" : json.substring(q + 1, end);
    }
}
