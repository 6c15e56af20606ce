package dev.lora4j.io.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lora4j.tensor.DType;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A safetensors file, memory-mapped read-only and validated in full on {@link #open}: once open succeeds every
 * tensor's bytes lie inside the file, so reading any of them cannot fail on the file's account.
 *
 * <p>{@link #segment} hands out zero-copy slices of the mapping; they, and the file, are valid until
 * {@link #close}, after which touching them throws {@link IllegalStateException}. The mapping belongs to a shared
 * arena, so tensors may be read from any thread. Asking for a tensor the file does not hold, or reading one in
 * a way its dtype does not allow, throws {@link IllegalArgumentException}.
 *
 * <p>Rejected, with a {@link SafetensorsFormatException}: a header length of 0, over 100,000,000 bytes (the
 * reference implementation's limit) or past the end of the file; a header that is not a UTF-8 JSON object, or
 * that repeats a key; an entry without a known dtype, a shape of non-negative integers whose product fits a
 * long, or data_offsets [begin, end] with begin &lt;= end spanning exactly shape * dtype bytes; data regions
 * that, taken in order, leave a gap, overlap, or do not end exactly at the end of the file; a "__metadata__"
 * that is not an object of strings.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The reference implementation's limit: a hostile length must not make us allocate gigabytes. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";

    /** Strict where the format could be read two ways: a repeated key, or text after the object. */
    static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The longest Java array the JDK itself relies on being able to allocate. */
    private static final long MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SafetensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors,
                            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates the file; the caller closes it. */
    public static SafetensorsFile open(Path path) throws IOException {
        return open(path, false);
    }

    /**
     * Maps and validates the file for weights that a model keeps reading in place: the mapping lives as long as
     * any segment taken from it is reachable (an automatic arena), and {@link #close()} does nothing.
     */
    public static SafetensorsFile openForModel(Path path) throws IOException {
        return open(path, true);
    }

    static SafetensorsFile open(Path path, boolean modelLifetime) throws IOException {
        Arena arena = modelLifetime ? Arena.ofAuto() : Arena.ofShared();
        try {
            MemorySegment file;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                long size = channel.size();
                if (size < Long.BYTES) {
                    throw new SafetensorsFormatException(path, "file is " + size
                            + " bytes, too short to hold the 8-byte header length (truncated or not a safetensors file)");
                }
                file = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            SafetensorsFile f = parse(path, arena, file);
            // An automatic arena cannot be closed: the garbage collector unmaps it once no segment is reachable.
            if (modelLifetime) f.closed.set(true);
            return f;
        } catch (Throwable t) {
            if (!modelLifetime) arena.close();
            throw t;
        }
    }

    private static SafetensorsFile parse(Path path, Arena arena, MemorySegment file) throws SafetensorsFormatException {
        long available = file.byteSize() - Long.BYTES;
        long headerLength = file.get(LONG_LE, 0);
        if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES) {
            throw new SafetensorsFormatException(path, "header length is " + headerLength
                    + ", expected 1 to " + MAX_HEADER_BYTES + " bytes (corrupt or not a safetensors file)");
        }
        if (headerLength > available) {
            throw new SafetensorsFormatException(path, "header length is " + headerLength + " bytes but only "
                    + available + " bytes follow the length field (truncated file?)");
        }
        String text = decodeUtf8(path, file.asSlice(Long.BYTES, headerLength).toArray(ValueLayout.JAVA_BYTE));
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new SafetensorsFormatException(path, null, "header is not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " (at header char " + e.getLocation().getCharOffset() + ")"), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsFormatException(path, "header must be a JSON object, found " + describe(root));
        }

        Map<String, String> metadata = Map.of();
        List<TensorInfo> infos = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(path, field.getValue());
            } else {
                infos.add(parseEntry(path, field.getKey(), field.getValue()));
            }
        }
        long dataSize = available - headerLength;
        checkLayout(path, infos, dataSize);

        Map<String, TensorInfo> byName = new TreeMap<>(Names.UTF8_ORDER);
        for (TensorInfo info : infos) byName.put(info.name(), info);
        MemorySegment data = file.asSlice(Long.BYTES + headerLength, dataSize);
        return new SafetensorsFile(path, arena, data, Collections.unmodifiableMap(byName), metadata);
    }

    private static String decodeUtf8(Path path, byte[] bytes) throws SafetensorsFormatException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(path, null, "header is not valid UTF-8", e);
        }
    }

    private static Map<String, String> parseMetadata(Path path, JsonNode node) throws SafetensorsFormatException {
        if (!node.isObject()) {
            throw new SafetensorsFormatException(path, METADATA_KEY + " must be an object of strings, found " + describe(node));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : node.properties()) {
            if (!field.getValue().isTextual()) {
                throw new SafetensorsFormatException(path, METADATA_KEY + " must map strings to strings, but "
                        + Names.quote(field.getKey()) + " maps to " + describe(field.getValue()));
            }
            metadata.put(field.getKey(), field.getValue().textValue());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode node) throws SafetensorsFormatException {
        if (!node.isObject()) {
            throw new SafetensorsFormatException(path, name,
                    "entry must be an object with dtype, shape and data_offsets, found " + describe(node));
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new SafetensorsFormatException(path, name, "dtype must be a string, found " + describe(dtypeNode));
        }
        SafetensorsDType dtype = SafetensorsDType.fromJsonName(dtypeNode.textValue());
        if (dtype == null) {
            throw new SafetensorsFormatException(path, name, "unknown dtype " + Names.quote(dtypeNode.textValue())
                    + ", expected one of " + Arrays.toString(SafetensorsDType.values()));
        }
        long[] shape = naturals(path, name, node.get("shape"), "shape", -1);
        long[] offsets = naturals(path, name, node.get("data_offsets"), "data_offsets", 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw new SafetensorsFormatException(path, name,
                    "data_offsets " + Arrays.toString(offsets) + " end before they begin");
        }
        long needed;
        try {
            long elements = 1;
            for (long d : shape) elements = Math.multiplyExact(elements, d);
            needed = Math.multiplyExact(elements, (long) dtype.bytes());
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(path, name, "shape " + Arrays.toString(shape) + " of " + dtype
                    + " needs more bytes than a long can count");
        }
        if (end - begin != needed) {
            throw new SafetensorsFormatException(path, name, "data_offsets " + Arrays.toString(offsets) + " span "
                    + (end - begin) + " bytes but " + dtype + Arrays.toString(shape) + " needs " + needed);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** A JSON array of integers in [0, Long.MAX_VALUE], of the given length (or any, if negative). */
    private static long[] naturals(Path path, String name, JsonNode node, String field, int length)
            throws SafetensorsFormatException {
        String expected = length < 0 ? "an array of non-negative integers"
                : "an array of " + length + " non-negative integers";
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw new SafetensorsFormatException(path, name, field + " must be " + expected + ", found " + describe(node));
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new SafetensorsFormatException(path, name, field + "[" + i + "] must be an integer from 0 to "
                        + Long.MAX_VALUE + ", found " + describe(v));
            }
            values[i] = v.longValue();
        }
        return values;
    }

    /**
     * The reference implementation's rule: sorted by offset, the tensors tile the data region exactly, so no
     * byte is unaccounted for and none belongs to two tensors.
     */
    private static void checkLayout(Path path, List<TensorInfo> infos, long dataSize) throws SafetensorsFormatException {
        List<TensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expected = 0;
        TensorInfo previous = null;
        for (TensorInfo info : sorted) {
            if (info.begin() != expected) {
                String after = previous == null ? "the start of the data" : "tensor " + Names.quote(previous.name())
                        + ", which ends at byte " + expected;
                String what = info.begin() < expected ? "overlaps " : "leaves a gap of " + (info.begin() - expected)
                        + " bytes after ";
                throw new SafetensorsFormatException(path, info.name(), "data_offsets [" + info.begin() + ", "
                        + info.end() + "] " + what + after + "; tensors must lie back to back");
            }
            expected = info.end();
            previous = info;
        }
        if (expected > dataSize) {
            throw new SafetensorsFormatException(path, previous.name(), "data ends at byte " + expected
                    + " but the file holds only " + dataSize + " bytes of data (truncated file?)");
        }
        if (expected < dataSize) {
            throw new SafetensorsFormatException(path, "tensors cover " + expected + " bytes of data but the file holds "
                    + dataSize + "; the last " + (dataSize - expected) + " bytes belong to no tensor");
        }
    }

    private static String describe(JsonNode node) {
        if (node == null || node.isMissingNode()) return "nothing";
        String text = node.toString();
        String shown = text.length() > 60 ? text.substring(0, 60) + "..." : text;
        return node.getNodeType().name().toLowerCase() + " " + shown;
    }

    public Path path() {
        return path;
    }

    /** The tensor names, sorted (by code point, as Python's safetensors sorts when it writes). */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The header's "__metadata__", or an empty map if it has none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** @throws IllegalArgumentException if the file holds no such tensor; the message lists the closest names */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw new IllegalArgumentException(path + ": " + Names.noSuchTensor(name, tensors.keySet()));
        return info;
    }

    /** The tensor's raw little-endian bytes, a slice of the mapping (no copy); not necessarily aligned. */
    public MemorySegment segment(String name) {
        TensorInfo info = info(name);
        return data.asSlice(info.begin(), info.byteSize());
    }

    /**
     * An F32, F16 or BF16 tensor widened to a heap F32 {@link Tensor}.
     *
     * @throws IllegalArgumentException for another dtype, or a shape a lora4j tensor cannot hold (a dimension or
     *                                  element count past an int)
     */
    public Tensor tensor(String name) {
        TensorInfo info = info(name);
        DType dtype = info.dtype().toDType();
        if (dtype == null) {
            throw new IllegalArgumentException(path + ": tensor " + Names.quote(name) + " has dtype " + info.dtype()
                    + ", which is not a float type tensor() reads (F32, F16, BF16); use longs() or segment()");
        }
        return Tensor.fromSegment(segment(name), dtype, heapShape(info));
    }

    /**
     * An integer or BOOL tensor's elements, row-major, widened to long (unsigned types zero-extended, BOOL as 0
     * or 1).
     *
     * @throws IllegalArgumentException for a float or U64 dtype
     */
    public long[] longs(String name) {
        TensorInfo info = info(name);
        if (!info.dtype().isIntegral()) {
            throw new IllegalArgumentException(path + ": tensor " + Names.quote(name) + " has dtype " + info.dtype()
                    + ", which longs() does not read (it reads I64, I32, I16, I8, U32, U16, U8, BOOL)");
        }
        int n = arrayLength(info);
        MemorySegment s = segment(name);
        long[] out = new long[n];
        switch (info.dtype()) {
            case I64 -> MemorySegment.copy(s, LONG_LE, 0, out, 0, n);
            case I32 -> { for (int i = 0; i < n; i++) out[i] = s.getAtIndex(INT_LE, i); }
            case U32 -> { for (int i = 0; i < n; i++) out[i] = Integer.toUnsignedLong(s.getAtIndex(INT_LE, i)); }
            case I16 -> { for (int i = 0; i < n; i++) out[i] = s.getAtIndex(SHORT_LE, i); }
            case U16 -> { for (int i = 0; i < n; i++) out[i] = Short.toUnsignedLong(s.getAtIndex(SHORT_LE, i)); }
            case I8 -> { for (int i = 0; i < n; i++) out[i] = s.get(ValueLayout.JAVA_BYTE, i); }
            case U8 -> { for (int i = 0; i < n; i++) out[i] = Byte.toUnsignedLong(s.get(ValueLayout.JAVA_BYTE, i)); }
            // Anything but 0 reads as true, as numpy and torch read a bool byte.
            case BOOL -> { for (int i = 0; i < n; i++) out[i] = s.get(ValueLayout.JAVA_BYTE, i) == 0 ? 0 : 1; }
            default -> throw new AssertionError(info.dtype());
        }
        return out;
    }

    private Shape heapShape(TensorInfo info) {
        arrayLength(info);
        long[] dims = info.shape();
        int[] ints = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(path + ": tensor " + Names.quote(info.name()) + " has shape "
                        + Arrays.toString(dims) + "; a lora4j tensor's dimensions must fit an int");
            }
            ints[i] = (int) dims[i];
        }
        return new Shape(ints);
    }

    private int arrayLength(TensorInfo info) {
        long n = info.elementCount();
        if (n > MAX_ARRAY_LENGTH) {
            throw new IllegalArgumentException(path + ": tensor " + Names.quote(info.name()) + " has " + n
                    + " elements, more than a Java array holds; read it through segment()");
        }
        return (int) n;
    }

    /** Unmaps the file; idempotent. Segments handed out earlier become unusable. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) arena.close();
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
