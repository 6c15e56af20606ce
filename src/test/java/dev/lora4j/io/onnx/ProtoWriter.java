package dev.lora4j.io.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** A protobuf wire-format encoder for building ONNX bytes by hand in tests (its encodings are pinned in a test). */
final class ProtoWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static byte[] varintBytes(long v) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        while ((v & ~0x7FL) != 0) {
            b.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        b.write((int) v);
        return b.toByteArray();
    }

    ProtoWriter tag(int field, int wireType) {
        out.writeBytes(varintBytes((long) field << 3 | wireType));
        return this;
    }

    ProtoWriter varint(int field, long v) {
        tag(field, 0);
        out.writeBytes(varintBytes(v));
        return this;
    }

    ProtoWriter fixed32(int field, int v) {
        tag(field, 5);
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
        return this;
    }

    ProtoWriter float32(int field, float v) {
        return fixed32(field, Float.floatToRawIntBits(v));
    }

    ProtoWriter fixed64(int field, long v) {
        tag(field, 1);
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        return this;
    }

    ProtoWriter bytes(int field, byte[] b) {
        tag(field, 2);
        out.writeBytes(varintBytes(b.length));
        out.writeBytes(b);
        return this;
    }

    ProtoWriter string(int field, String s) {
        return bytes(field, s.getBytes(StandardCharsets.UTF_8));
    }

    ProtoWriter message(int field, ProtoWriter m) {
        return bytes(field, m.toByteArray());
    }

    ProtoWriter packedVarints(int field, long... values) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (long v : values) b.writeBytes(varintBytes(v));
        return bytes(field, b.toByteArray());
    }

    ProtoWriter packedFloats(int field, float... values) {
        return bytes(field, floatsLE(values));
    }

    /** Bytes appended as they are, e.g. a hand-made corrupt field. */
    ProtoWriter raw(byte... b) {
        out.writeBytes(b);
        return this;
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }

    static byte[] floatsLE(float... values) {
        ByteBuffer bb = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) bb.putFloat(v);
        return bb.array();
    }

    static byte[] longsLE(long... values) {
        ByteBuffer bb = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) bb.putLong(v);
        return bb.array();
    }
}
