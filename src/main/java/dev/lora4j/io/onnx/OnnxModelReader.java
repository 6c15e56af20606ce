package dev.lora4j.io.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the graph of an ONNX model (a protobuf {@code ModelProto}) with a hand-written wire-format parser: no
 * protobuf library, no ONNX runtime. Only what a weight import needs is decoded, per onnx.proto:
 * <pre>
 * ModelProto   graph 7
 * GraphProto   node 1, initializer 5, input 11, output 12 (ValueInfoProto: name 1)
 * NodeProto    input 1, output 2, name 3, op_type 4, attribute 5
 * AttributeProto name 1, f 2, i 3, t 5, ints 8
 * TensorProto  dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9,
 *              data_location 14
 * </pre>
 * Everything else is skipped by wire type. Repeated scalars are accepted packed or not. Tensors stored in an
 * external file (data_location EXTERNAL) are rejected: the models this reads are single files.
 */
public final class OnnxModelReader {
    private OnnxModelReader() {
    }

    public static OnnxGraph read(Path file) throws IOException {
        return read(Files.readAllBytes(file), file.toString());
    }

    /** Reads the whole stream (it is not closed); {@code source} names it in error messages. */
    public static OnnxGraph read(InputStream in, String source) throws IOException {
        return read(in.readAllBytes(), source);
    }

    /** Parses a serialized ModelProto; {@code source} names it in error messages. */
    public static OnnxGraph read(byte[] model, String source) throws OnnxFormatException {
        ProtoReader r = new ProtoReader(model, 0, model.length, source, "");
        OnnxGraph graph = null;
        while (r.next()) {
            if (r.fieldNumber() == 7) {
                r.expect(ProtoReader.LEN, "graph");
                if (graph != null) throw r.error("graph", "more than one graph in the model");
                graph = readGraph(r.readMessage("graph"));
            } else {
                r.skip();
            }
        }
        if (graph == null) throw r.error(null, "no graph (ModelProto field 7) in " + model.length + " bytes; is this an ONNX model?");
        return graph;
    }

    private static OnnxGraph readGraph(ProtoReader r) throws OnnxFormatException {
        List<OnnxNode> nodes = new ArrayList<>();
        Map<String, OnnxTensor> initializers = new LinkedHashMap<>();
        List<String> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        while (r.next()) {
            switch (r.fieldNumber()) {
                case 1 -> {
                    r.expect(ProtoReader.LEN, "node");
                    nodes.add(readNode(r.readMessage(r.child("node[" + nodes.size() + "]"))));
                }
                case 5 -> {
                    r.expect(ProtoReader.LEN, "initializer");
                    String path = r.child("initializer[" + initializers.size() + "]");
                    OnnxTensor t = readTensor(r.readMessage(path));
                    if (initializers.putIfAbsent(t.name(), t) != null) {
                        throw r.error(path, "second initializer named '" + t.name() + "'");
                    }
                }
                case 11 -> {
                    r.expect(ProtoReader.LEN, "input");
                    inputs.add(readValueInfoName(r.readMessage(r.child("input[" + inputs.size() + "]"))));
                }
                case 12 -> {
                    r.expect(ProtoReader.LEN, "output");
                    outputs.add(readValueInfoName(r.readMessage(r.child("output[" + outputs.size() + "]"))));
                }
                default -> r.skip();
            }
        }
        return new OnnxGraph(nodes, initializers, inputs, outputs);
    }

    private static String readValueInfoName(ProtoReader r) throws OnnxFormatException {
        String name = "";
        while (r.next()) {
            if (r.fieldNumber() == 1) {
                r.expect(ProtoReader.LEN, "name");
                name = r.readString(r.child("name"));
            } else {
                r.skip();
            }
        }
        return name;
    }

    private static OnnxNode readNode(ProtoReader r) throws OnnxFormatException {
        List<String> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        Map<String, OnnxAttribute> attributes = new HashMap<>();
        String name = "";
        String opType = "";
        while (r.next()) {
            switch (r.fieldNumber()) {
                case 1 -> { r.expect(ProtoReader.LEN, "input"); inputs.add(r.readString(r.child("input"))); }
                case 2 -> { r.expect(ProtoReader.LEN, "output"); outputs.add(r.readString(r.child("output"))); }
                case 3 -> { r.expect(ProtoReader.LEN, "name"); name = r.readString(r.child("name")); }
                case 4 -> { r.expect(ProtoReader.LEN, "op_type"); opType = r.readString(r.child("op_type")); }
                case 5 -> {
                    r.expect(ProtoReader.LEN, "attribute");
                    OnnxAttribute a = readAttribute(r.readMessage(r.child("attribute[" + attributes.size() + "]")));
                    attributes.put(a.name(), a);
                }
                default -> r.skip();
            }
        }
        return new OnnxNode(name, opType, inputs, outputs, attributes);
    }

    private static OnnxAttribute readAttribute(ProtoReader r) throws OnnxFormatException {
        String name = "";
        long i = 0;
        float f = 0;
        LongList ints = null;
        OnnxTensor t = null;
        while (r.next()) {
            switch (r.fieldNumber()) {
                case 1 -> { r.expect(ProtoReader.LEN, "name"); name = r.readString(r.child("name")); }
                case 2 -> { r.expect(ProtoReader.I32, "f"); f = Float.intBitsToFloat(r.readFixed32(r.child("f"))); }
                case 3 -> { r.expect(ProtoReader.VARINT, "i"); i = r.readVarint(r.child("i")); }
                case 5 -> { r.expect(ProtoReader.LEN, "t"); t = readTensor(r.readMessage(r.child("t"))); }
                case 8 -> {
                    if (ints == null) ints = new LongList();
                    readVarints(r, r.child("ints"), ints);
                }
                default -> r.skip();
            }
        }
        return new OnnxAttribute(name, i, f, ints == null ? null : ints.toArray(), t);
    }

    /** One varint, or a packed run of them, appended to {@code out}. */
    private static void readVarints(ProtoReader r, String field, LongList out) throws OnnxFormatException {
        if (r.wireType() == ProtoReader.VARINT) {
            out.add(r.readVarint(field));
        } else if (r.wireType() == ProtoReader.LEN) {
            ProtoReader packed = r.readMessage(field);
            while (!packed.atEnd()) out.add(packed.readVarint(field));
        } else {
            throw r.error(field, "wire type " + r.wireType() + ", expected a varint (0) or packed varints (2)");
        }
    }

    private static OnnxTensor readTensor(ProtoReader r) throws OnnxFormatException {
        LongList dims = new LongList();
        int dataType = 0;
        String name = "";
        LongList ints = null;       // int32_data or int64_data
        FloatList floats = null;    // float_data
        int rawStart = -1;
        int rawEnd = -1;
        long dataLocation = 0;
        byte[] buf = r.buffer();
        while (r.next()) {
            switch (r.fieldNumber()) {
                case 1 -> readVarints(r, r.child("dims"), dims);
                case 2 -> { r.expect(ProtoReader.VARINT, "data_type"); dataType = (int) r.readVarint(r.child("data_type")); }
                case 4 -> {
                    if (floats == null) floats = new FloatList();
                    String field = r.child("float_data");
                    if (r.wireType() == ProtoReader.I32) {
                        floats.add(Float.intBitsToFloat(r.readFixed32(field)));
                    } else if (r.wireType() == ProtoReader.LEN) {
                        int start = r.readLengthDelimited(field);
                        int len = r.position() - start;
                        if (len % 4 != 0) throw r.error(field, "packed floats of " + len + " bytes, not a multiple of 4");
                        floats.addLittleEndian(buf, start, len / 4);
                    } else {
                        throw r.error(field, "wire type " + r.wireType() + ", expected a float (5) or packed floats (2)");
                    }
                }
                case 5, 7 -> {
                    if (ints == null) ints = new LongList();
                    readVarints(r, r.child(r.fieldNumber() == 5 ? "int32_data" : "int64_data"), ints);
                }
                case 8 -> { r.expect(ProtoReader.LEN, "name"); name = r.readString(r.child("name")); }
                case 9 -> {
                    r.expect(ProtoReader.LEN, "raw_data");
                    rawStart = r.readLengthDelimited(r.child("raw_data"));
                    rawEnd = r.position();
                }
                case 14 -> { r.expect(ProtoReader.VARINT, "data_location"); dataLocation = r.readVarint(r.child("data_location")); }
                default -> r.skip();
            }
        }
        String where = r.path() + " '" + name + "'";
        if (dataLocation == 1) {
            throw r.error(where, "data is stored in an external file (data_location EXTERNAL); only single-file models are supported");
        }
        long[] shape = dims.toArray();
        long count = 1;
        for (long d : shape) {
            if (d < 0) throw r.error(where, "negative dimension in dims " + Arrays.toString(shape));
            if (d > 0 && count > (Integer.MAX_VALUE - 8) / d) {
                throw r.error(where, "dims " + Arrays.toString(shape) + " describe more elements than a Java array holds");
            }
            count *= d;
        }
        int n = (int) count;
        int rawLen = rawStart < 0 ? -1 : rawEnd - rawStart;
        return switch (dataType) {
            case OnnxTensor.FLOAT -> {
                float[] data;
                if (rawLen >= 0) {
                    if (floats != null) throw r.error(where, "has both raw_data and float_data");
                    if (rawLen != 4L * n) throw r.error(where, "raw_data has " + rawLen + " bytes, FLOAT" + Arrays.toString(shape) + " needs " + 4L * n);
                    data = new float[n];
                    ByteBuffer.wrap(buf, rawStart, rawLen).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data);
                } else {
                    data = floats == null ? new float[0] : floats.toArray();
                    if (data.length != n) throw r.error(where, "float_data has " + data.length + " values, dims " + Arrays.toString(shape) + " need " + n);
                }
                yield new OnnxTensor(name, shape, dataType, data, null);
            }
            case OnnxTensor.INT64, OnnxTensor.INT32 -> {
                int width = dataType == OnnxTensor.INT64 ? 8 : 4;
                long[] data;
                if (rawLen >= 0) {
                    if (ints != null) throw r.error(where, "has both raw_data and int data");
                    if (rawLen != (long) width * n) {
                        throw r.error(where, "raw_data has " + rawLen + " bytes, " + OnnxTensor.typeName(dataType) + Arrays.toString(shape) + " needs " + (long) width * n);
                    }
                    data = new long[n];
                    ByteBuffer bb = ByteBuffer.wrap(buf, rawStart, rawLen).order(ByteOrder.LITTLE_ENDIAN);
                    if (width == 8) {
                        bb.asLongBuffer().get(data);
                    } else {
                        for (int i = 0; i < n; i++) data[i] = bb.getInt(rawStart + 4 * i);
                    }
                } else {
                    data = ints == null ? new long[0] : ints.toArray();
                    if (data.length != n) throw r.error(where, "int data has " + data.length + " values, dims " + Arrays.toString(shape) + " need " + n);
                    if (dataType == OnnxTensor.INT32) for (int i = 0; i < n; i++) data[i] = (int) data[i];
                }
                yield new OnnxTensor(name, shape, dataType, null, data);
            }
            case 0 -> throw r.error(where, "no data_type (field 2)");
            default -> new OnnxTensor(name, shape, dataType, null, null);
        };
    }

    /** A growable long[]: dims and int data without boxing. */
    private static final class LongList {
        private long[] a = new long[8];
        private int n;

        void add(long v) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }

    /** A growable float[] for float_data. */
    private static final class FloatList {
        private float[] a = new float[8];
        private int n;

        void add(float v) {
            ensure(1);
            a[n++] = v;
        }

        void addLittleEndian(byte[] buf, int offset, int count) {
            ensure(count);
            ByteBuffer.wrap(buf, offset, 4 * count).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(a, n, count);
            n += count;
        }

        float[] toArray() {
            return Arrays.copyOf(a, n);
        }

        private void ensure(int more) {
            if (n + more > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, n + more));
        }
    }
}
