package dev.lora4j.io.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A cursor over one protobuf message in a byte array: the wire format, nothing of any schema. Every read is
 * bounds-checked against the end of the message it is in, so a truncated or corrupt file fails with an
 * {@link OnnxFormatException} naming the source and the field path ({@code graph.initializer[3].dims}), never
 * with an {@link ArrayIndexOutOfBoundsException}.
 *
 * <p>Wire types: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit; the deprecated groups (3, 4)
 * are rejected. Fixed-width values are little-endian.
 */
final class ProtoReader {
    static final int VARINT = 0, I64 = 1, LEN = 2, I32 = 5;

    private final byte[] buf;
    private final int limit;
    private final String source;
    private final String path;
    private int pos;
    private int fieldNumber;
    private int wireType;

    ProtoReader(byte[] buf, int offset, int limit, String source, String path) {
        if (offset < 0 || limit < offset || limit > buf.length) {
            throw new IllegalArgumentException("range [" + offset + ", " + limit + ") outside " + buf.length + " bytes");
        }
        this.buf = buf;
        this.pos = offset;
        this.limit = limit;
        this.source = source;
        this.path = path;
    }

    /** The field path of this message, e.g. {@code graph.node[4]}; empty for the top-level message. */
    String path() {
        return path;
    }

    /** {@code path.name}, the path of a field of this message. */
    String child(String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    /** Reads the next tag; false at the end of the message. Then {@link #fieldNumber()} and {@link #wireType()}. */
    boolean next() throws OnnxFormatException {
        if (pos >= limit) return false;
        long tag = readVarint(child("<tag>"));
        long field = tag >>> 3;
        int wire = (int) (tag & 7);
        if (field < 1 || field > 0x1FFF_FFFF) {
            throw error(child("<tag>"), "invalid field number " + field + " at byte " + (pos - 1));
        }
        if (wire != VARINT && wire != I64 && wire != LEN && wire != I32) {
            throw error(child("field " + field), "unsupported wire type " + wire + (wire == 3 || wire == 4 ? " (group)" : ""));
        }
        fieldNumber = (int) field;
        wireType = wire;
        return true;
    }

    /** True when every byte of this message has been read. */
    boolean atEnd() {
        return pos >= limit;
    }

    /** Bytes left in this message. */
    int remaining() {
        return limit - pos;
    }

    int fieldNumber() {
        return fieldNumber;
    }

    int wireType() {
        return wireType;
    }

    /** Fails unless the current field has the wire type the schema gives it. */
    void expect(int wire, String field) throws OnnxFormatException {
        if (wireType != wire) {
            throw error(child(field), "wire type " + wireType + ", expected " + wire + " (field " + fieldNumber + ")");
        }
    }

    long readVarint(String field) throws OnnxFormatException {
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= limit) throw error(field, "varint runs past the end of " + describe());
            byte b = buf[pos++];
            result |= (long) (b & 0x7F) << shift;
            if (b >= 0) return result;
        }
        throw error(field, "varint longer than 10 bytes");
    }

    long readFixed64(String field) throws OnnxFormatException {
        need(8, field);
        long v = ByteBuffer.wrap(buf, pos, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        pos += 8;
        return v;
    }

    int readFixed32(String field) throws OnnxFormatException {
        need(4, field);
        int v = (buf[pos] & 0xFF) | (buf[pos + 1] & 0xFF) << 8 | (buf[pos + 2] & 0xFF) << 16 | (buf[pos + 3] & 0xFF) << 24;
        pos += 4;
        return v;
    }

    /** Reads a length prefix and checks the bytes it announces are there; returns their offset, skips past them. */
    int readLengthDelimited(String field) throws OnnxFormatException {
        long len = readVarint(field);
        if (len < 0 || len > limit - pos) {
            throw error(field, "length " + len + " runs past the end of " + describe() + " (" + (limit - pos) + " bytes left)");
        }
        int start = pos;
        pos += (int) len;
        return start;
    }

    /** The current length-delimited field as a nested message, named {@code path} in errors. */
    ProtoReader readMessage(String fieldPath) throws OnnxFormatException {
        int start = readLengthDelimited(fieldPath);
        return new ProtoReader(buf, start, pos, source, fieldPath);
    }

    String readString(String field) throws OnnxFormatException {
        int start = readLengthDelimited(field);
        return new String(buf, start, pos - start, StandardCharsets.UTF_8);
    }

    /** Skips the current field's value, whatever its wire type. */
    void skip() throws OnnxFormatException {
        String field = child("field " + fieldNumber);
        switch (wireType) {
            case VARINT -> readVarint(field);
            case I64 -> { need(8, field); pos += 8; }
            case LEN -> readLengthDelimited(field);
            case I32 -> { need(4, field); pos += 4; }
            default -> throw new IllegalStateException("wire type " + wireType);
        }
    }

    /** The offset of the next unread byte; right after {@link #readLengthDelimited}, the end of the value read. */
    int position() {
        return pos;
    }

    byte[] buffer() {
        return buf;
    }

    OnnxFormatException error(String field, String message) {
        return new OnnxFormatException(source, field, message);
    }

    private void need(int n, String field) throws OnnxFormatException {
        if (limit - pos < n) {
            throw error(field, n + "-byte value runs past the end of " + describe() + " (" + (limit - pos) + " bytes left)");
        }
    }

    private String describe() {
        return path.isEmpty() ? "the model" : path;
    }
}
