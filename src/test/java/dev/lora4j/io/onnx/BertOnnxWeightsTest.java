package dev.lora4j.io.onnx;

import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** The mapping on a tiny hand-built graph laid out like the Optimum export, and how it fails on other layouts. */
class BertOnnxWeightsTest {
    static final int VOCAB = 10, HIDDEN = 4, HEADS = 2, INTER = 8, POS = 6, TYPES = 2, LAYERS = 2;
    static final String[] LINEARS = {"attention.self.query", "attention.self.key", "attention.self.value",
            "attention.output.dense", "intermediate.dense", "output.dense"};

    /** A BERT-shaped graph: what each node computes is beside the point, how weights hang off nodes is not. */
    static final class TinyBert {
        final Map<String, OnnxTensor> inits = new LinkedHashMap<>();
        final List<OnnxNode> nodes = new ArrayList<>();
        final Map<String, String> anonymousByModule = new HashMap<>();   // "encoder.layer.0.output.dense" -> onnx::MatMul_n
        private final Random rnd = new Random(7);
        private int counter = 100;
        String prefix = "";
        boolean headsInGraph = true;
        float eps = 1e-12f;

        OnnxTensor floats(String name, long... dims) {
            long n = 1;
            for (long d : dims) n *= d;
            float[] data = new float[(int) n];
            for (int i = 0; i < n; i++) data[i] = (float) rnd.nextGaussian();
            OnnxTensor t = new OnnxTensor(name, dims, OnnxTensor.FLOAT, data, null);
            inits.put(name, t);
            return t;
        }

        void node(String name, String op, List<String> in, List<String> out, OnnxAttribute... attrs) {
            Map<String, OnnxAttribute> a = new HashMap<>();
            for (OnnxAttribute x : attrs) a.put(x.name(), x);
            nodes.add(new OnnxNode(name, op, in, out, a));
        }

        String constant(String name, OnnxTensor value) {
            node(name, "Constant", List.of(), List.of(name + "_output_0"), new OnnxAttribute("value", 0, 0, null, value));
            return name + "_output_0";
        }

        String layerNorm(String module, String x) {
            String path = "/" + module.replace('.', '/');
            node(path + "/ReduceMean_1", "ReduceMean", List.of(x), List.of(path + "/rm"));
            String c = constant(path + "/Constant_1", new OnnxTensor("", new long[0], OnnxTensor.FLOAT, new float[]{eps}, null));
            node(path + "/Add", "Add", List.of(path + "/rm", c), List.of(path + "/var"));
            floats(prefix + module + ".weight", HIDDEN);
            floats(prefix + module + ".bias", HIDDEN);
            node(path + "/Mul", "Mul", List.of(path + "/var", prefix + module + ".weight"), List.of(path + "/mul"));
            node(path + "/Add_1", "Add", List.of(path + "/mul", prefix + module + ".bias"), List.of(path + "/out"));
            return path + "/out";
        }

        String linear(String module, String x, int in, int out, boolean biasFirst) {
            String path = "/" + module.replace('.', '/');
            String w = "onnx::MatMul_" + counter++;
            floats(w, in, out);
            floats(prefix + module + ".bias", out);
            anonymousByModule.put(module, w);
            node(path + "/MatMul", "MatMul", List.of(x, w), List.of(path + "/mm"));
            String b = prefix + module + ".bias";
            node(path + "/Add", "Add", biasFirst ? List.of(b, path + "/mm") : List.of(path + "/mm", b), List.of(path + "/out"));
            return path + "/out";
        }

        OnnxGraph build() {
            floats(prefix + "embeddings.word_embeddings.weight", VOCAB, HIDDEN);
            floats(prefix + "embeddings.position_embeddings.weight", POS, HIDDEN);
            floats(prefix + "embeddings.token_type_embeddings.weight", TYPES, HIDDEN);
            inits.put(prefix + "embeddings.position_ids", new OnnxTensor(prefix + "embeddings.position_ids",
                    new long[]{1, POS}, OnnxTensor.INT64, null, new long[POS]));
            node("/embeddings/word_embeddings/Gather", "Gather", List.of(prefix + "embeddings.word_embeddings.weight", "input_ids"), List.of("emb"));
            String h = layerNorm("embeddings.LayerNorm", "emb");
            for (int i = 0; i < LAYERS; i++) {
                String l = "encoder.layer." + i + ".";
                String q = linear(l + "attention.self.query", h, HIDDEN, HIDDEN, true);
                linear(l + "attention.self.key", h, HIDDEN, HIDDEN, false);       // bias second: either order
                linear(l + "attention.self.value", h, HIDDEN, HIDDEN, true);
                if (headsInGraph) {
                    String p = "/" + l.replace('.', '/') + "attention/self";
                    node(p + "/Shape", "Shape", List.of(q), List.of(p + "/shape"));
                    String ch = constant(p + "/Constant_2", new OnnxTensor("", new long[]{1}, OnnxTensor.INT64, null, new long[]{HEADS}));
                    String cd = constant(p + "/Constant_3", new OnnxTensor("", new long[]{1}, OnnxTensor.INT64, null, new long[]{HIDDEN / HEADS}));
                    node(p + "/Concat", "Concat", List.of(p + "/b", p + "/s", ch, cd), List.of(p + "/concat"));
                    node(p + "/Reshape", "Reshape", List.of(q, p + "/concat"), List.of(p + "/reshaped"));
                }
                String a = linear(l + "attention.output.dense", h + "_ctx", HIDDEN, HIDDEN, i % 2 == 0);
                h = layerNorm(l + "attention.output.LayerNorm", a);
                String m = linear(l + "intermediate.dense", h, HIDDEN, INTER, true);
                String o = linear(l + "output.dense", m + "_gelu", INTER, HIDDEN, false);
                h = layerNorm(l + "output.LayerNorm", o);
            }
            return new OnnxGraph(nodes, inits, List.of("input_ids", "attention_mask", "token_type_ids"), List.of(h));
        }
    }

    static OnnxGraph tiny(Consumer<TinyBert> setup) {
        TinyBert t = new TinyBert();
        setup.accept(t);
        return t.build();
    }

    @Test
    void namesEveryWeightAndTransposesTheMatMulOnes() throws Exception {
        TinyBert tb = new TinyBert();
        OnnxGraph g = tb.build();
        BertOnnxWeights w = BertOnnxWeights.fromGraph(g, "tiny");

        assertEquals(BertOnnxWeights.expectedNames(LAYERS, false), List.copyOf(w.weights().keySet()));
        assertEquals(new BertOnnxWeights.Config(VOCAB, HIDDEN, LAYERS, HEADS, INTER, POS, TYPES, 1e-12), w.config());
        for (int i = 0; i < LAYERS; i++) {
            for (String lin : LINEARS) {
                String module = "encoder.layer." + i + "." + lin;
                OnnxTensor onnx = g.initializers().get(tb.anonymousByModule.get(module));
                Tensor hf = w.weights().get(module + ".weight");
                int in = (int) onnx.dims()[0], out = (int) onnx.dims()[1];
                assertArrayEquals(new int[]{out, in}, hf.shape().dims(), module);
                for (int o = 0; o < out; o++) {
                    for (int k = 0; k < in; k++) assertEquals(onnx.floats()[k * out + o], hf.data()[o * in + k], module);
                }
                assertSame(g.initializers().get(module + ".bias").floats(), w.weights().get(module + ".bias").data());
            }
        }
        assertFalse(w.weights().containsKey("embeddings.position_ids"), "an INT64 buffer is not a parameter");
        assertThrows(IllegalStateException.class, w::tokenizerJson);
        assertTrue(w.builtinModel().isEmpty());
    }

    @Test
    void stripsAModelPrefix() throws Exception {
        BertOnnxWeights w = BertOnnxWeights.fromGraph(tiny(t -> t.prefix = "bert."), "tiny");
        assertEquals(BertOnnxWeights.expectedNames(LAYERS, false), List.copyOf(w.weights().keySet()));
    }

    @Test
    void readsEpsilonFromTheGraphAsTheDecimalInTheConfig() throws Exception {
        assertEquals(1e-5, BertOnnxWeights.fromGraph(tiny(t -> t.eps = 1e-5f), "tiny").config().layerNormEps());
    }

    @Test
    void headsComeFromTheGraphOrTheCaller() throws Exception {
        OnnxGraph noHeads = tiny(t -> t.headsInGraph = false);
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> BertOnnxWeights.fromGraph(noHeads, "tiny"));
        assertTrue(e.getMessage().contains("attention heads"), e.getMessage());
        assertEquals(4, BertOnnxWeights.fromGraph(noHeads, "tiny", 4).config().numAttentionHeads());
        OnnxFormatException clash = assertThrows(OnnxFormatException.class, () -> BertOnnxWeights.fromGraph(tiny(t -> { }), "tiny", 4));
        assertTrue(clash.getMessage().contains("2 heads"), clash.getMessage());
    }

    @Test
    void aMatMulWeightWithNoNamedBiasFailsNamingIt() {
        TinyBert tb = new TinyBert();
        OnnxGraph g = tb.build();
        String anon = tb.anonymousByModule.get("encoder.layer.1.output.dense");
        // Re-route that Add to another value: the MatMul's product now meets no bias.
        List<OnnxNode> nodes = g.nodes().stream().map(n -> n.name().equals("/encoder/layer/1/output/dense/Add")
                ? new OnnxNode(n.name(), "Add", List.of("something", "encoder.layer.1.output.dense.bias"), n.outputs(), Map.of())
                : n).toList();
        OnnxFormatException e = assertThrows(OnnxFormatException.class,
                () -> BertOnnxWeights.fromGraph(new OnnxGraph(nodes, g.initializers(), g.inputs(), g.outputs()), "tiny.onnx"));
        assertTrue(e.getMessage().startsWith("tiny.onnx: " + anon), e.getMessage());
        assertTrue(e.getMessage().contains("/encoder/layer/1/output/dense/MatMul"), e.getMessage());
    }

    @Test
    void aMissingWeightFailsNamingIt() {
        OnnxGraph g = tiny(t -> { });
        Map<String, OnnxTensor> inits = new HashMap<>(g.initializers());
        inits.remove("encoder.layer.1.output.LayerNorm.weight");
        OnnxFormatException e = assertThrows(OnnxFormatException.class,
                () -> BertOnnxWeights.fromGraph(new OnnxGraph(g.nodes(), inits, g.inputs(), g.outputs()), "tiny"));
        assertTrue(e.getMessage().contains("missing 1 expected BERT weight(s): encoder.layer.1.output.LayerNorm.weight"), e.getMessage());
    }

    @Test
    void aMisshapenWeightFailsNamingIt() {
        OnnxGraph g = tiny(t -> { });
        Map<String, OnnxTensor> inits = new HashMap<>(g.initializers());
        inits.put("encoder.layer.0.output.LayerNorm.bias",
                new OnnxTensor("encoder.layer.0.output.LayerNorm.bias", new long[]{5}, OnnxTensor.FLOAT, new float[5], null));
        OnnxFormatException e = assertThrows(OnnxFormatException.class,
                () -> BertOnnxWeights.fromGraph(new OnnxGraph(g.nodes(), inits, g.inputs(), g.outputs()), "tiny"));
        assertTrue(e.getMessage().contains("encoder.layer.0.output.LayerNorm.bias: shape [5], expected [4]"), e.getMessage());
    }

    @Test
    void aGemmPoolerWithTransBIsTakenAsIs() throws Exception {
        TinyBert tb = new TinyBert();
        OnnxGraph g0 = tb.build();
        OnnxTensor w = tb.floats("onnx::Gemm_1", HIDDEN, HIDDEN);   // [out, in] already
        tb.floats("pooler.dense.bias", HIDDEN);
        List<OnnxNode> nodes = new ArrayList<>(g0.nodes());
        nodes.add(new OnnxNode("/pooler/dense/Gemm", "Gemm", List.of("cls", "onnx::Gemm_1", "pooler.dense.bias"), List.of("pooled"),
                Map.of("transB", new OnnxAttribute("transB", 1, 0, null, null))));
        BertOnnxWeights m = BertOnnxWeights.fromGraph(new OnnxGraph(nodes, tb.inits, g0.inputs(), g0.outputs()), "tiny");
        assertArrayEquals(w.floats(), m.weights().get("pooler.dense.weight").data());
        assertEquals(BertOnnxWeights.expectedNames(LAYERS, true), List.copyOf(m.weights().keySet()));
    }

    @Test
    void notABertFailsSayingSo() {
        OnnxGraph g = new OnnxGraph(List.of(), Map.of("x", new OnnxTensor("x", new long[]{1}, OnnxTensor.FLOAT, new float[1], null)),
                List.of(), List.of());
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> BertOnnxWeights.fromGraph(g, "other.onnx"));
        assertTrue(e.getMessage().contains("embeddings.word_embeddings.weight") && e.getMessage().contains("BERT"), e.getMessage());
    }
}
