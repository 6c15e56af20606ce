package dev.lora4j.io.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The real exports shipped in Maven Central jars: all-MiniLM-L6-v2 (compile scope) and bge-small-en-v1.5 (test). */
class BuiltinBertModelTest {
    static final String[] LINEARS = {"attention.self.query", "attention.self.key", "attention.self.value",
            "attention.output.dense", "intermediate.dense", "output.dense"};

    static OnnxGraph minilmGraph;
    static BertOnnxWeights minilm;

    @BeforeAll
    static void load() throws Exception {
        BuiltinBertModel m = BuiltinBertModel.ALL_MINILM_L6_V2;
        minilmGraph = OnnxModelReader.read(m.onnxBytes(), m.onnxResource());
        minilm = BertOnnxWeights.fromGraph(minilmGraph, m.onnxResource());   // heads read from the graph
    }

    @Test
    void miniLmHasEveryWeightInItsShape() {
        Map<String, Tensor> w = minilm.weights();
        assertEquals(new BertOnnxWeights.Config(30522, 384, 6, 12, 1536, 512, 2, 1e-12), minilm.config());
        assertEquals(BertOnnxWeights.expectedNames(6, false), List.copyOf(w.keySet()));
        assertEquals(5 + 6 * 16, w.size());
        assertShape(w, "embeddings.word_embeddings.weight", 30522, 384);
        assertShape(w, "embeddings.position_embeddings.weight", 512, 384);
        assertShape(w, "embeddings.token_type_embeddings.weight", 2, 384);
        assertShape(w, "embeddings.LayerNorm.weight", 384);
        for (int i = 0; i < 6; i++) {
            String l = "encoder.layer." + i + ".";
            for (String m : new String[]{"query", "key", "value"}) {
                assertShape(w, l + "attention.self." + m + ".weight", 384, 384);
                assertShape(w, l + "attention.self." + m + ".bias", 384);
            }
            assertShape(w, l + "attention.output.dense.weight", 384, 384);
            assertShape(w, l + "attention.output.LayerNorm.weight", 384);
            assertShape(w, l + "intermediate.dense.weight", 1536, 384);
            assertShape(w, l + "intermediate.dense.bias", 1536);
            assertShape(w, l + "output.dense.weight", 384, 1536);
            assertShape(w, l + "output.LayerNorm.bias", 384);
        }
        // BertModel without the pooler: 22,713,216 - 384*384 - 384
        assertEquals(22_565_376, minilm.parameterCount());
    }

    /**
     * The naming and the transposition, checked another way: find each layer's MatMul and Add by the node
     * names the exporter gave them ("/encoder/layer.0/attention/self/query/MatMul"), compute x·W_onnx + b
     * from the raw initializers, and compare with W_hf·x + b from the mapped tensors.
     */
    @Test
    void mappedLinearsComputeWhatTheOnnxNodesCompute() {
        checkLinearsByNodeName(minilmGraph, minilm);
    }

    static void checkLinearsByNodeName(OnnxGraph graph, BertOnnxWeights mapped) {
        Random rnd = new Random(1);
        int layers = mapped.config().numHiddenLayers();
        for (int i = 0; i < layers; i++) {
            for (String lin : LINEARS) {
                String path = "/encoder/layer." + i + "/" + lin.replace('.', '/');
                OnnxNode matmul = node(graph, path + "/MatMul");
                OnnxNode add = node(graph, path + "/Add");
                OnnxTensor wOnnx = graph.initializers().get(matmul.inputs().get(1));
                assertTrue(wOnnx.name().startsWith("onnx::MatMul_"), wOnnx.name());
                OnnxTensor bOnnx = add.inputs().stream().map(graph.initializers()::get).filter(t -> t != null).findFirst().orElseThrow();
                int in = (int) wOnnx.dims()[0], out = (int) wOnnx.dims()[1];

                float[] x = new float[in];
                for (int k = 0; k < in; k++) x[k] = (float) rnd.nextGaussian();
                float[] y2 = new float[out];                       // x·W_onnx + b, W_onnx [in, out]
                for (int o = 0; o < out; o++) {
                    double s = bOnnx.floats()[o];
                    for (int k = 0; k < in; k++) s += (double) x[k] * wOnnx.floats()[k * out + o];
                    y2[o] = (float) s;
                }
                String module = "encoder.layer." + i + "." + lin;
                Tensor w = mapped.weights().get(module + ".weight");
                Tensor b = mapped.weights().get(module + ".bias");
                assertArrayEquals(new int[]{out, in}, w.shape().dims(), module);
                float[] y1 = new float[out];                       // W_hf·x + b, W_hf [out, in]
                for (int o = 0; o < out; o++) {
                    double s = b.data()[o];
                    for (int k = 0; k < in; k++) s += (double) w.data()[o * in + k] * x[k];
                    y1[o] = (float) s;
                }
                assertArrayEquals(y2, y1, 1e-5f, module);
            }
        }
    }

    private static OnnxNode node(OnnxGraph g, String name) {
        return g.nodes().stream().filter(n -> n.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no node " + name));
    }

    @Test
    void loadBuiltinByNameCarriesTheTokenizer() throws Exception {
        BertOnnxWeights w = BertOnnxWeights.loadBuiltin("all-MiniLM-L6-v2");
        assertEquals(BuiltinBertModel.ALL_MINILM_L6_V2, w.builtinModel().orElseThrow());
        assertEquals("classpath:all-minilm-l6-v2.onnx", w.source());
        assertEquals(minilm.config(), w.config());
        assertArrayEquals(minilm.weights().get("encoder.layer.3.output.dense.weight").data(),
                w.weights().get("encoder.layer.3.output.dense.weight").data());

        JsonNode tok = new ObjectMapper().readTree(w.tokenizerJson());
        JsonNode vocab = tok.path("model").path("vocab");
        assertEquals(w.config().vocabSize(), vocab.size());
        assertEquals(101, vocab.path("[CLS]").asInt());
        assertEquals(102, vocab.path("[SEP]").asInt());
        assertEquals(BuiltinBertModel.ALL_MINILM_L6_V2, BuiltinBertModel.byName("sentence-transformers/all-MiniLM-L6-v2"));
        assertThrows(IllegalArgumentException.class, () -> BuiltinBertModel.byName("gpt2"));
    }

    @Test
    void bgeSmallMapsTheSameWay() throws Exception {
        BuiltinBertModel m = BuiltinBertModel.BGE_SMALL_EN_V15;
        assertTrue(m.isAvailable(), "test-scope dependency " + m.artifact());
        OnnxGraph graph = OnnxModelReader.read(m.onnxBytes(), m.onnxResource());
        BertOnnxWeights w = BertOnnxWeights.fromGraph(graph, m.onnxResource());
        assertEquals(new BertOnnxWeights.Config(30522, 384, 12, 12, 1536, 512, 2, 1e-12), w.config());
        assertEquals(BertOnnxWeights.expectedNames(12, false), List.copyOf(w.weights().keySet()));
        checkLinearsByNodeName(graph, w);
    }

    private static void assertShape(Map<String, Tensor> w, String name, int... dims) {
        Tensor t = w.get(name);
        assertNotNull(t, name);
        assertArrayEquals(dims, t.shape().dims(), name);
    }
}
