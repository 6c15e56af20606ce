package dev.lora4j.io.onnx;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class OnnxModelReaderTest {
    private static final String SRC = "test-model.onnx";

    // --- the test encoder against the protobuf spec's own examples, so reader and writer cannot share a bug

    @Test
    void writerEncodesVarintsAsTheProtobufSpecSays() {
        assertArrayEquals(new byte[]{0x01}, ProtoWriter.varintBytes(1));
        assertArrayEquals(new byte[]{(byte) 0xAC, 0x02}, ProtoWriter.varintBytes(300));
        byte[] minusOne = ProtoWriter.varintBytes(-1);
        assertEquals(10, minusOne.length);
        for (int i = 0; i < 9; i++) assertEquals((byte) 0xFF, minusOne[i]);
        assertEquals(0x01, minusOne[9]);
        // field 1, varint 150: the spec's "08 96 01"
        assertArrayEquals(new byte[]{0x08, (byte) 0x96, 0x01}, new ProtoWriter().varint(1, 150).toByteArray());
        // field 2, string "testing": "12 07 74 65 73 74 69 6e 67"
        assertArrayEquals(new byte[]{0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g'}, new ProtoWriter().string(2, "testing").toByteArray());
    }

    // --- a hand-built model covering every decoded field in its encodings

    static ProtoWriter tensor(String name, int dataType, long... dims) {
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) t.varint(1, d);                      // unpacked dims
        return t.varint(2, dataType).string(8, name);
    }

    static byte[] sampleModel() {
        float[] w = {1.5f, -2f, 3.25f, 0f, Float.MIN_VALUE, -0f};
        ProtoWriter wRaw = new ProtoWriter()
                .packedVarints(1, 2, 3)                          // packed dims
                .varint(2, OnnxTensor.FLOAT)
                .string(8, "onnx::MatMul_7")
                .fixed64(99, 0x1234_5678_9ABCL)                  // unknown fixed64
                .fixed32(98, 7)                                  // unknown fixed32
                .bytes(9, ProtoWriter.floatsLE(w));
        ProtoWriter bPacked = tensor("layer.bias", OnnxTensor.FLOAT, 3).packedFloats(4, 0.5f, 1e-12f, -7f);
        ProtoWriter fUnpacked = tensor("scalars", OnnxTensor.FLOAT, 1, 2).float32(4, 9f).float32(4, -9f);
        // data before dims and type: fields may come in any order
        ProtoWriter idsPacked = new ProtoWriter().packedVarints(7, -1, 300, Long.MIN_VALUE, Long.MAX_VALUE)
                .string(8, "ids").varint(1, 4).varint(2, OnnxTensor.INT64);
        ProtoWriter idsUnpacked = tensor("ids2", OnnxTensor.INT64, 2).varint(7, -5).varint(7, 1L << 40);
        ProtoWriter idsRaw = tensor("ids_raw", OnnxTensor.INT64, 1, 3).bytes(9, ProtoWriter.longsLE(-2, 0, 1L << 50));
        ProtoWriter int32 = tensor("i32", OnnxTensor.INT32, 2).packedVarints(5, -3, 70000);
        ProtoWriter big = tensor("big_dims", OnnxTensor.INT8, 300, 20000);  // multi-byte dims, type not decoded
        ProtoWriter scalar = tensor("scalar", OnnxTensor.FLOAT).bytes(9, ProtoWriter.floatsLE(42f));

        ProtoWriter attrT = new ProtoWriter().string(1, "value").varint(20, 4)
                .message(5, tensor("", OnnxTensor.INT64, 1).varint(7, 12));
        ProtoWriter attrInts = new ProtoWriter().string(1, "perm").packedVarints(8, 0, 2, 1, 3);
        ProtoWriter attrI = new ProtoWriter().string(1, "axis").varint(3, -1);
        ProtoWriter attrF = new ProtoWriter().string(1, "epsilon").float32(2, 1e-5f);
        ProtoWriter attrUnpackedInts = new ProtoWriter().string(1, "axes").varint(8, 1).varint(8, 2);
        ProtoWriter constant = new ProtoWriter().string(2, "c_out").string(3, "/Constant").string(4, "Constant").message(5, attrT);
        ProtoWriter matmul = new ProtoWriter().string(1, "x").string(1, "onnx::MatMul_7").string(2, "mm_out")
                .string(3, "/layer/MatMul").string(4, "MatMul").string(7, "").string(6, "doc string, skipped");
        ProtoWriter other = new ProtoWriter().string(4, "Transpose").string(3, "/t").string(1, "mm_out").string(2, "y")
                .message(5, attrInts).message(5, attrI).message(5, attrF).message(5, attrUnpackedInts);

        ProtoWriter graph = new ProtoWriter()
                .string(2, "main_graph")
                .message(1, constant).message(1, matmul).message(1, other)
                .message(5, wRaw).message(5, bPacked).message(5, fUnpacked).message(5, idsPacked)
                .message(5, idsUnpacked).message(5, idsRaw).message(5, int32).message(5, big).message(5, scalar)
                .message(11, new ProtoWriter().string(1, "x").message(2, new ProtoWriter().varint(1, 1)))
                .message(12, new ProtoWriter().string(1, "y"))
                .message(13, new ProtoWriter().string(1, "value_info, skipped"));
        return new ProtoWriter()
                .varint(1, 8)                                    // ir_version
                .string(2, "pytorch")                            // producer_name
                .message(8, new ProtoWriter().string(1, "").varint(2, 14))   // opset_import
                .message(7, graph)
                .string(14, "metadata, skipped")
                .toByteArray();
    }

    @Test
    void readsEveryDecodedFieldInEachEncoding() throws Exception {
        OnnxGraph g = OnnxModelReader.read(new ByteArrayInputStream(sampleModel()), SRC);

        assertEquals(List.of("x"), g.inputs());
        assertEquals(List.of("y"), g.outputs());
        assertEquals(3, g.nodes().size());
        OnnxNode mm = g.nodes().get(1);
        assertEquals("/layer/MatMul", mm.name());
        assertEquals("MatMul", mm.opType());
        assertEquals(List.of("x", "onnx::MatMul_7"), mm.inputs());
        assertEquals(List.of("mm_out"), mm.outputs());
        assertEquals(List.of(mm), g.consumers("onnx::MatMul_7"));
        assertSame(mm, g.producerByValue().get("mm_out"));
        assertEquals(List.of(g.nodes().get(2)), g.consumersByValue().get("mm_out"));

        OnnxNode c = g.nodes().get(0);
        assertArrayEquals(new long[]{12}, c.attribute("value").t().longs());
        OnnxNode t = g.nodes().get(2);
        assertArrayEquals(new long[]{0, 2, 1, 3}, t.attribute("perm").ints());
        assertEquals(-1, t.attribute("axis").i());
        assertEquals(1e-5f, t.attribute("epsilon").f());
        assertArrayEquals(new long[]{1, 2}, t.attribute("axes").ints());

        OnnxTensor w = g.initializers().get("onnx::MatMul_7");
        assertArrayEquals(new long[]{2, 3}, w.dims());
        assertEquals(OnnxTensor.FLOAT, w.dataType());
        assertArrayEquals(new float[]{1.5f, -2f, 3.25f, 0f, Float.MIN_VALUE, -0f}, w.floats());
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(w.floats()[5]));
        assertArrayEquals(new int[]{2, 3}, w.toTensor().shape().dims());
        // transposed [3, 2]: row o holds column o of the [2, 3] original
        assertArrayEquals(new float[]{1.5f, 0f, -2f, Float.MIN_VALUE, 3.25f, -0f}, w.toTensorTransposed().data());
        assertArrayEquals(new int[]{3, 2}, w.toTensorTransposed().shape().dims());

        assertArrayEquals(new float[]{0.5f, 1e-12f, -7f}, g.initializers().get("layer.bias").floats());
        assertArrayEquals(new float[]{9f, -9f}, g.initializers().get("scalars").floats());
        assertArrayEquals(new long[]{1, 2}, g.initializers().get("scalars").dims());

        OnnxTensor ids = g.initializers().get("ids");
        assertEquals(OnnxTensor.INT64, ids.dataType());
        assertArrayEquals(new long[]{4}, ids.dims());
        assertArrayEquals(new long[]{-1, 300, Long.MIN_VALUE, Long.MAX_VALUE}, ids.longs());
        assertArrayEquals(new long[]{-5, 1L << 40}, g.initializers().get("ids2").longs());
        assertArrayEquals(new long[]{-2, 0, 1L << 50}, g.initializers().get("ids_raw").longs());
        assertArrayEquals(new long[]{-3, 70000}, g.initializers().get("i32").longs());

        OnnxTensor big = g.initializers().get("big_dims");
        assertArrayEquals(new long[]{300, 20000}, big.dims());
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, big::floats);
        assertTrue(e.getMessage().contains("big_dims") && e.getMessage().contains("INT8"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, ids::floats);
        assertThrows(UnsupportedOperationException.class, w::longs);

        OnnxTensor scalar = g.initializers().get("scalar");
        assertEquals(0, scalar.dims().length);
        assertEquals(1, scalar.elementCount());
        assertArrayEquals(new float[]{42f}, scalar.floats());
    }

    // --- corrupt inputs: always an OnnxFormatException naming the source and the field

    private static OnnxFormatException corrupt(byte[] bytes) {
        return assertThrows(OnnxFormatException.class, () -> OnnxModelReader.read(bytes, SRC));
    }

    private static void assertMessage(OnnxFormatException e, String... parts) {
        assertTrue(e.getMessage().startsWith(SRC + ": "), e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
    }

    @Test
    void lengthPastTheEndNamesTheField() {
        // graph (field 7) announces 1000 bytes, 3 follow
        byte[] bytes = new ProtoWriter().tag(7, 2).raw(ProtoWriter.varintBytes(1000)).raw(new byte[]{0x0A, 0x01, 0x00}).toByteArray();
        OnnxFormatException e = corrupt(bytes);
        assertMessage(e, "graph", "length 1000 runs past the end of the model", "3 bytes left");
        assertEquals("graph", e.field());
        assertEquals(SRC, e.source());
    }

    @Test
    void nestedLengthPastItsMessageNamesTheNestedField() {
        // initializer[0].raw_data claims 64 bytes inside a tensor message that holds fewer
        ProtoWriter t = tensor("w", OnnxTensor.FLOAT, 16).tag(9, 2).raw(ProtoWriter.varintBytes(64)).raw(new byte[8]);
        byte[] bytes = new ProtoWriter().message(7, new ProtoWriter().message(5, t)).toByteArray();
        assertMessage(corrupt(bytes), "graph.initializer[0].raw_data", "length 64 runs past the end of graph.initializer[0]");
    }

    @Test
    void everyTruncationFailsCleanly() {
        byte[] model = sampleModel();
        int failures = 0;
        for (int n = 0; n < model.length; n++) {
            byte[] cut = Arrays.copyOf(model, n);
            try {
                OnnxModelReader.read(cut, SRC);
            } catch (OnnxFormatException e) {
                assertTrue(e.getMessage().startsWith(SRC + ": "), e.getMessage());
                failures++;
            }
        }
        // Only cuts before the graph (a model with no graph is an error too) or after it can parse; the
        // graph holds almost every byte, so nearly all cuts must fail.
        assertTrue(failures >= model.length - 25, failures + " of " + model.length);
        assertMessage(corrupt(Arrays.copyOf(model, model.length / 2)), "graph");
        assertMessage(corrupt(new byte[0]), "no graph");
    }

    @Test
    void randomCorruptionNeverEscapesAsAnotherException() {
        byte[] model = sampleModel();
        Random rnd = new Random(42);
        for (int trial = 0; trial < 3000; trial++) {
            byte[] bad = model.clone();
            for (int k = 1 + rnd.nextInt(3); k > 0; k--) bad[rnd.nextInt(bad.length)] = (byte) rnd.nextInt(256);
            try {
                OnnxModelReader.read(bad, SRC);
            } catch (OnnxFormatException e) {
                assertTrue(e.getMessage().startsWith(SRC + ": "), e.getMessage());
            } catch (RuntimeException e) {
                fail("trial " + trial + ": " + e, e);
            }
        }
    }

    @Test
    void rawDataOfTheWrongSizeNamesTheTensor() {
        ProtoWriter t = tensor("encoder.w", OnnxTensor.FLOAT, 2, 2).bytes(9, ProtoWriter.floatsLE(1, 2, 3));
        byte[] bytes = new ProtoWriter().message(7, new ProtoWriter().message(5, t)).toByteArray();
        assertMessage(corrupt(bytes), "graph.initializer[0] 'encoder.w'", "raw_data has 12 bytes", "needs 16");
    }

    @Test
    void floatDataOfTheWrongCountNamesTheTensor() {
        ProtoWriter t = tensor("b", OnnxTensor.FLOAT, 3).packedFloats(4, 1, 2);
        byte[] bytes = new ProtoWriter().message(7, new ProtoWriter().message(5, t)).toByteArray();
        assertMessage(corrupt(bytes), "'b'", "float_data has 2 values", "need 3");
    }

    @Test
    void rejectsOverlongVarintsGroupsBadWireTypesAndNegativeDims() {
        byte[] overlong = new byte[12];
        Arrays.fill(overlong, (byte) 0x80);
        assertMessage(corrupt(new ProtoWriter().tag(1, 0).raw(overlong).toByteArray()), "varint longer than 10 bytes");
        assertMessage(corrupt(new ProtoWriter().tag(5, 3).toByteArray()), "wire type 3", "group");
        // graph (7) as a varint: the schema says length-delimited
        assertMessage(corrupt(new ProtoWriter().varint(7, 1).toByteArray()), "graph", "wire type 0, expected 2");
        ProtoWriter neg = tensor("n", OnnxTensor.FLOAT, -4);
        assertMessage(corrupt(new ProtoWriter().message(7, new ProtoWriter().message(5, neg)).toByteArray()), "'n'", "negative dimension");
        ProtoWriter huge = tensor("h", OnnxTensor.FLOAT, 1L << 20, 1L << 20);
        assertMessage(corrupt(new ProtoWriter().message(7, new ProtoWriter().message(5, huge)).toByteArray()), "'h'", "more elements");
        ProtoWriter ext = tensor("e", OnnxTensor.FLOAT, 1).varint(14, 1);
        assertMessage(corrupt(new ProtoWriter().message(7, new ProtoWriter().message(5, ext)).toByteArray()), "'e'", "external");
        ProtoWriter dup = tensor("d", OnnxTensor.FLOAT, 1).packedFloats(4, 1f);
        assertMessage(corrupt(new ProtoWriter().message(7, new ProtoWriter().message(5, dup).message(5, dup)).toByteArray()),
                "initializer[1]", "second initializer named 'd'");
    }
}
