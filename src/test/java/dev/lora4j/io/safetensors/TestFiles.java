package dev.lora4j.io.safetensors;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Builds safetensors bytes by hand, independently of {@link SafetensorsWriter}. */
final class TestFiles {
    private TestFiles() {
    }

    /** 8-byte little-endian header length, the header's UTF-8, the data. */
    static byte[] file(String header, byte[] data) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        return file(json.length, json, data);
    }

    /** As {@link #file(String, byte[])} but with whatever header length the test wants to claim. */
    static byte[] file(long claimedLength, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(claimedLength).put(header).put(data);
        return b.array();
    }

    static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) out[i] = (byte) values[i];
        return out;
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) b.put(p);
        return b.array();
    }

    /** A one-tensor F32 entry, for headers assembled in tests. */
    static String f32(String name, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }
}
