package dev.lora4j.io.safetensors;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lora4j.tensor.DType;
import dev.lora4j.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes tensors as a safetensors file laid out as Python's safetensors lays it out: tensors sorted by name,
 * their data back to back in that order, the header padded with spaces to end on an 8-byte boundary, and a
 * "__metadata__" of {"format": "pt"} plus the caller's entries (which win on a clash).
 *
 * <p>The file appears whole or not at all: it is written to a hidden temporary file beside the target,
 * forced to disk, then renamed over the target; on failure the temporary file is removed.
 */
public final class SafetensorsWriter {
    private static final int CHUNK_BYTES = 1 << 20;

    private SafetensorsWriter() {
    }

    /** Writes F32. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        write(file, tensors, metadata, SafetensorsDType.F32);
    }

    /**
     * Writes in the given float dtype (F32, F16 or BF16), narrowing with round-to-nearest-even.
     *
     * @throws IllegalArgumentException for another dtype, or a tensor named "__metadata__"
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata,
                             SafetensorsDType dtype) throws IOException {
        if (dtype.toDType() == null) {
            throw new IllegalArgumentException("can write F32, F16 or BF16, not " + dtype);
        }
        List<String> names = new ArrayList<>(tensors.keySet());
        names.sort(Names.UTF8_ORDER);
        byte[] header = header(names, tensors, metadata, dtype);

        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path temp = dir.resolve("." + target.getFileName() + ".tmp-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()));
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                Output out = new Output(channel);
                out.putLong(header.length);
                out.putBytes(header);
                for (String name : names) out.putFloats(tensors.get(name).data(), dtype.toDType());
                out.flush();
                channel.force(true);
            }
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (Throwable t) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException e) {
                t.addSuppressed(e);
            }
            throw t;
        }
        syncDirectory(dir);
    }

    /** The header JSON, space-padded so that the data starts 8-byte aligned (8 + length is a multiple of 8). */
    private static byte[] header(List<String> names, Map<String, Tensor> tensors, Map<String, String> metadata,
                                 SafetensorsDType dtype) throws IOException {
        ObjectNode root = SafetensorsFile.JSON.createObjectNode();
        Map<String, String> meta = new TreeMap<>(Names.UTF8_ORDER);
        meta.put("format", "pt");
        metadata.forEach((k, v) -> meta.put(k, Objects.requireNonNull(v, () -> "metadata value of " + k + " is null")));
        ObjectNode metaNode = root.putObject(SafetensorsFile.METADATA_KEY);
        meta.forEach(metaNode::put);

        long offset = 0;
        for (String name : names) {
            if (name.equals(SafetensorsFile.METADATA_KEY)) {
                throw new IllegalArgumentException("a tensor cannot be named " + SafetensorsFile.METADATA_KEY);
            }
            Tensor t = tensors.get(name);
            ObjectNode entry = root.putObject(name);
            entry.put("dtype", dtype.jsonName());
            ArrayNode shape = entry.putArray("shape");
            for (int d : t.shape().dims()) shape.add(d);
            long end = offset + (long) t.size() * dtype.bytes();
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = SafetensorsFile.JSON.writeValueAsBytes(root);
        int padded = json.length + (8 - json.length % 8) % 8;
        if (padded > SafetensorsFile.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("header of " + padded + " bytes is past the format's limit of "
                    + SafetensorsFile.MAX_HEADER_BYTES + "; no reader would open the file");
        }
        byte[] header = new byte[padded];
        System.arraycopy(json, 0, header, 0, json.length);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    /** Makes the rename itself durable; directories cannot be opened on some platforms, so this is best effort. */
    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // The data itself is on disk; only the rename's durability across a power cut is left to the OS.
        }
    }

    /** Little-endian writes through one reusable buffer, so tensors of gigabytes need no second copy. */
    private static final class Output {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);

        Output(FileChannel channel) {
            this.channel = channel;
        }

        void putLong(long v) throws IOException {
            ensure(Long.BYTES);
            buffer.putLong(v);
        }

        void putBytes(byte[] bytes) throws IOException {
            for (int i = 0; i < bytes.length; ) {
                ensure(1);
                int n = Math.min(buffer.remaining(), bytes.length - i);
                buffer.put(bytes, i, n);
                i += n;
            }
        }

        void putFloats(float[] data, DType dtype) throws IOException {
            switch (dtype) {
                case F32 -> {
                    for (int i = 0; i < data.length; ) {
                        ensure(Float.BYTES);
                        int n = Math.min(buffer.remaining() / Float.BYTES, data.length - i);
                        buffer.asFloatBuffer().put(data, i, n);
                        buffer.position(buffer.position() + n * Float.BYTES);
                        i += n;
                    }
                }
                case BF16 -> {
                    for (float f : data) {
                        ensure(Short.BYTES);
                        buffer.putShort(DType.floatToBf16(f));
                    }
                }
                case F16 -> {
                    for (float f : data) {
                        ensure(Short.BYTES);
                        buffer.putShort(Float.floatToFloat16(f));
                    }
                }
            }
        }

        private void ensure(int bytes) throws IOException {
            if (buffer.remaining() < bytes) flush();
        }

        void flush() throws IOException {
            buffer.flip();
            while (buffer.hasRemaining()) channel.write(buffer);
            buffer.clear();
        }
    }
}
