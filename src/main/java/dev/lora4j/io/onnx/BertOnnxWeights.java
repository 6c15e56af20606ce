package dev.lora4j.io.onnx;

import dev.lora4j.tensor.Tensor;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The weights of an ONNX export of a BERT encoder, under the parameter names of Hugging Face's {@code BertModel}
 * ({@code embeddings.word_embeddings.weight}, {@code encoder.layer.0.attention.self.query.weight}, ...), in
 * PyTorch layout: a Linear weight is [out, in]. Prefix them ({@code bert.}) for the task classes.
 *
 * <p>Optimum / torch.onnx exports keep the names of biases, LayerNorms and embeddings but store each Linear
 * weight as an anonymous initializer ({@code onnx::MatMul_787}) in [in, out] layout, the right operand of a
 * MatMul. Such a weight is named after the bias its product is added to: MatMul(x, W) -> Add(b, ...) with
 * {@code b = "...query.bias"} names W {@code "...query.weight"}, transposed. Gemm nodes (pooler exports) are
 * read the same way, honouring transB. A MatMul weight that cannot be named this way, or an expected
 * parameter that is absent or misshapen, fails the load with an {@link OnnxFormatException} naming it: a
 * different exporter layout is caught, never mapped silently wrong.
 *
 * <p>Buffers ({@code embeddings.position_ids}, INT64) and anonymous constants are not parameters and are left
 * out. What the weights cannot tell (attention heads, layer norm epsilon) is read from the graph: the Reshape
 * that splits the query into heads and the constant added to the variance in each LayerNorm.
 */
public final class BertOnnxWeights {
    /** What a BertConfig needs, inferred from the weights and the graph. */
    public record Config(int vocabSize, int hiddenSize, int numHiddenLayers, int numAttentionHeads,
                         int intermediateSize, int maxPositionEmbeddings, int typeVocabSize, double layerNormEps) {
    }

    /** BertConfig's default, used when the graph shows no epsilon. */
    public static final double DEFAULT_LAYER_NORM_EPS = 1e-12;

    private static final Pattern HF_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z0-9_]+)*");
    private static final Pattern LAYER = Pattern.compile("encoder\\.layer\\.(\\d+)\\..*");
    private static final String WORD_EMBEDDINGS = "embeddings.word_embeddings.weight";
    private static final String QUERY0 = "encoder.layer.0.attention.self.query";
    /** The Linear layers of one encoder layer, in state_dict order, interleaved with the LayerNorms. */
    private static final String[] LAYER_MODULES = {
            "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
            "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"};

    private final String source;
    private final Config config;
    private final Map<String, Tensor> weights;
    private final BuiltinBertModel builtin;

    private BertOnnxWeights(String source, Config config, Map<String, Tensor> weights, BuiltinBertModel builtin) {
        this.source = source;
        this.config = config;
        this.weights = Collections.unmodifiableMap(weights);
        this.builtin = builtin;
    }

    /** A built-in model by name ("all-MiniLM-L6-v2", "bge-small-en-v1.5", or its Hub id), from the classpath. */
    public static BertOnnxWeights loadBuiltin(String name) throws IOException {
        return loadBuiltin(BuiltinBertModel.byName(name));
    }

    public static BertOnnxWeights loadBuiltin(BuiltinBertModel model) throws IOException {
        String source = "classpath:" + model.onnxResource();
        OnnxGraph graph = OnnxModelReader.read(model.onnxBytes(), source);
        return map(graph, source, model.numHeads(), model);
    }

    /** Maps a parsed graph; the number of attention heads must be readable from the graph. */
    public static BertOnnxWeights fromGraph(OnnxGraph graph, String source) throws OnnxFormatException {
        return map(graph, source, -1, null);
    }

    /** Maps a parsed graph with the number of heads given (it must agree with the graph where that shows it). */
    public static BertOnnxWeights fromGraph(OnnxGraph graph, String source, int numAttentionHeads) throws OnnxFormatException {
        if (numAttentionHeads <= 0) throw new IllegalArgumentException("numAttentionHeads " + numAttentionHeads);
        return map(graph, source, numAttentionHeads, null);
    }

    /** HF BertModel parameter name -> tensor, in state_dict order; unmodifiable (the tensors are not copies). */
    public Map<String, Tensor> weights() {
        return weights;
    }

    public Config config() {
        return config;
    }

    /** Where the model came from, e.g. {@code classpath:all-minilm-l6-v2.onnx}. */
    public String source() {
        return source;
    }

    /** The built-in model these weights were loaded as, if they were. */
    public Optional<BuiltinBertModel> builtinModel() {
        return Optional.ofNullable(builtin);
    }

    /** The bytes of the model's tokenizer.json; only for a built-in model (a file export has no tokenizer). */
    public byte[] tokenizerJson() throws IOException {
        if (builtin == null) throw new IllegalStateException("weights read from " + source + " carry no tokenizer.json");
        return builtin.tokenizerJson();
    }

    /** The number of float parameters. */
    public long parameterCount() {
        long n = 0;
        for (Tensor t : weights.values()) n += t.size();
        return n;
    }

    // ---------------------------------------------------------------------------------------------------------

    private static BertOnnxWeights map(OnnxGraph graph, String source, int givenHeads, BuiltinBertModel builtin)
            throws OnnxFormatException {
        Map<String, OnnxTensor> inits = graph.initializers();
        String prefix = findPrefix(inits, source);
        Map<String, List<OnnxNode>> consumers = graph.consumersByValue();

        Map<String, Tensor> named = new HashMap<>();
        Map<String, String> origin = new HashMap<>();          // HF name -> initializer it came from
        Map<String, String> linearOutputs = new HashMap<>();    // HF module -> value holding x·Wᵀ + b
        Set<String> usedAsWeight = new HashSet<>();
        for (OnnxNode node : graph.nodes()) {
            boolean gemm = node.opType().equals("Gemm");
            if (!gemm && !node.opType().equals("MatMul")) continue;
            int wi = weightInput(node, inits);
            if (wi < 0) continue;                               // activations x activations (attention scores)
            OnnxTensor w = inits.get(node.inputs().get(wi));
            String what = node.opType() + " weight '" + w.name() + "' (node '" + node.name() + "')";
            if (wi != 1) throw new OnnxFormatException(source, w.name(), what + " is the left operand; expected x·W");
            if (gemm && attrInt(node, "transA") != 0) throw new OnnxFormatException(source, w.name(), what + " has transA=1");

            OnnxTensor bias;
            String out;
            if (gemm && node.inputs().size() > 2 && isNamedBias(inits.get(node.inputs().get(2)))) {
                bias = inits.get(node.inputs().get(2));
                out = node.outputs().getFirst();
            } else {
                OnnxNode add = biasAdd(node.outputs().getFirst(), consumers, inits);
                if (add == null) {
                    throw new OnnxFormatException(source, w.name(), "cannot name " + what + ": its output feeds "
                            + consumers.getOrDefault(node.outputs().getFirst(), List.of())
                            + ", none an Add with a named '...bias' initializer");
                }
                bias = inits.get(add.inputs().get(0).equals(node.outputs().getFirst()) ? add.inputs().get(1) : add.inputs().get(0));
                out = add.outputs().getFirst();
            }
            String module = strip(prefix, bias.name().substring(0, bias.name().length() - ".bias".length()));
            boolean alreadyOut = gemm && attrInt(node, "transB") != 0;   // Gemm with transB holds W as [out, in]
            long outDim = alreadyOut ? w.dims()[0] : w.dims()[1];
            if (bias.dims().length != 1 || bias.dims()[0] != outDim) {
                throw new OnnxFormatException(source, w.name(), what + " of shape " + Arrays.toString(w.dims())
                        + " is added to '" + bias.name() + "' of shape " + Arrays.toString(bias.dims()) + "; they do not fit");
            }
            String hfName = module + ".weight";
            String earlier = origin.putIfAbsent(hfName, w.name());
            if (earlier != null && !earlier.equals(w.name())) {
                throw new OnnxFormatException(source, hfName, "named twice: from '" + earlier + "' and from '" + w.name() + "'");
            }
            if (earlier == null) named.put(hfName, alreadyOut ? w.toTensor() : w.toTensorTransposed());
            usedAsWeight.add(w.name());
            linearOutputs.put(module, out);
        }

        for (OnnxTensor t : inits.values()) {
            if (usedAsWeight.contains(t.name()) || t.dataType() != OnnxTensor.FLOAT || !HF_NAME.matcher(t.name()).matches()) continue;
            String hfName = strip(prefix, t.name());
            String earlier = origin.putIfAbsent(hfName, t.name());
            if (earlier != null) {
                throw new OnnxFormatException(source, hfName, "named twice: from '" + earlier + "' and from '" + t.name() + "'");
            }
            named.put(hfName, t.toTensor());
        }

        int layers = countLayers(named.keySet(), source);
        List<String> expected = expectedNames(layers, named.containsKey("pooler.dense.weight") || named.containsKey("pooler.dense.bias"));
        List<String> missing = expected.stream().filter(k -> !named.containsKey(k)).toList();
        if (!missing.isEmpty()) {
            throw new OnnxFormatException(source, missing.getFirst(), "missing " + missing.size() + " expected BERT weight(s): "
                    + String.join(", ", missing.subList(0, Math.min(10, missing.size()))) + (missing.size() > 10 ? ", ..." : "")
                    + "; named weights found: " + new TreeSet<>(named.keySet()).stream().limit(10).toList());
        }

        int[] word = named.get("embeddings.word_embeddings.weight").shape().dims();
        if (word.length != 2) throw new OnnxFormatException(source, "embeddings.word_embeddings.weight", "rank " + word.length + ", expected 2");
        int hidden = word[1];
        int graphHeads = inferHeads(graph, linearOutputs.get(QUERY0), consumers, inits, hidden);
        int heads;
        if (givenHeads > 0) {
            if (graphHeads > 0 && graphHeads != givenHeads) {
                throw new OnnxFormatException(source, QUERY0, "the graph splits the query into " + graphHeads
                        + " heads, but " + givenHeads + " were given");
            }
            heads = givenHeads;
        } else if (graphHeads > 0) {
            heads = graphHeads;
        } else {
            throw new OnnxFormatException(source, QUERY0, "cannot read the number of attention heads from the graph; pass it");
        }
        if (hidden % heads != 0) throw new OnnxFormatException(source, null, "hidden size " + hidden + " is not a multiple of " + heads + " heads");
        Config config = new Config(word[0], hidden, layers, heads,
                named.get("encoder.layer.0.intermediate.dense.bias").shape().dim(0),
                named.get("embeddings.position_embeddings.weight").shape().dim(0),
                named.get("embeddings.token_type_embeddings.weight").shape().dim(0),
                inferLayerNormEps(graph, inits, source));
        checkShapes(named, config, source);

        Map<String, Tensor> ordered = new LinkedHashMap<>();
        for (String k : expected) ordered.put(k, named.get(k));
        new TreeSet<>(named.keySet()).forEach(k -> ordered.putIfAbsent(k, named.get(k)));
        return new BertOnnxWeights(source, config, ordered, builtin);
    }

    /** "bert." (or "") before the embeddings' names; stripped from every name that has it. */
    private static String findPrefix(Map<String, OnnxTensor> inits, String source) throws OnnxFormatException {
        for (String name : inits.keySet()) {
            if (name.endsWith(WORD_EMBEDDINGS)) {
                String prefix = name.substring(0, name.length() - WORD_EMBEDDINGS.length());
                if (prefix.isEmpty() || prefix.endsWith(".")) return prefix;
            }
        }
        throw new OnnxFormatException(source, WORD_EMBEDDINGS, "no initializer named '[prefix.]" + WORD_EMBEDDINGS
                + "'; is this a BERT export? Initializers: " + new TreeSet<>(inits.keySet()).stream().limit(10).toList()
                + (inits.size() > 10 ? " ... (" + inits.size() + ")" : ""));
    }

    private static String strip(String prefix, String name) {
        return !prefix.isEmpty() && name.startsWith(prefix) ? name.substring(prefix.length()) : name;
    }

    /** The index of the input that is a 2-D float initializer, or -1. */
    private static int weightInput(OnnxNode node, Map<String, OnnxTensor> inits) {
        for (int i = 0; i < Math.min(2, node.inputs().size()); i++) {
            OnnxTensor t = inits.get(node.inputs().get(i));
            if (t != null && t.dataType() == OnnxTensor.FLOAT && t.dims().length == 2) return i;
        }
        return -1;
    }

    private static boolean isNamedBias(OnnxTensor t) {
        return t != null && t.dataType() == OnnxTensor.FLOAT && t.name().endsWith(".bias") && HF_NAME.matcher(t.name()).matches();
    }

    /** The one Add that adds a named bias initializer to {@code value} (in either input order), or null. */
    private static OnnxNode biasAdd(String value, Map<String, List<OnnxNode>> consumers, Map<String, OnnxTensor> inits) {
        OnnxNode found = null;
        for (OnnxNode n : consumers.getOrDefault(value, List.of())) {
            if (!n.opType().equals("Add") || n.inputs().size() != 2) continue;
            String other = n.inputs().get(0).equals(value) ? n.inputs().get(1) : n.inputs().get(0);
            if (isNamedBias(inits.get(other))) {
                if (found != null) return null;                // ambiguous: two biases added to one product
                found = n;
            }
        }
        return found;
    }

    private static long attrInt(OnnxNode node, String name) {
        OnnxAttribute a = node.attribute(name);
        return a == null ? 0 : a.i();
    }

    private static int countLayers(Set<String> names, String source) throws OnnxFormatException {
        int max = -1;
        for (String n : names) {
            Matcher m = LAYER.matcher(n);
            if (m.matches()) max = Math.max(max, Integer.parseInt(m.group(1)));
        }
        if (max < 0) throw new OnnxFormatException(source, "encoder.layer.0", "no encoder layers among the weights");
        return max + 1;
    }

    /** BertModel's parameter names in state_dict order. */
    static List<String> expectedNames(int layers, boolean pooler) {
        List<String> names = new ArrayList<>(List.of(
                "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"));
        for (int i = 0; i < layers; i++) {
            for (String m : LAYER_MODULES) {
                names.add("encoder.layer." + i + "." + m + ".weight");
                names.add("encoder.layer." + i + "." + m + ".bias");
            }
        }
        if (pooler) {
            names.add("pooler.dense.weight");
            names.add("pooler.dense.bias");
        }
        return names;
    }

    private static void checkShapes(Map<String, Tensor> w, Config c, String source) throws OnnxFormatException {
        int h = c.hiddenSize();
        int inter = c.intermediateSize();
        Map<String, int[]> want = new LinkedHashMap<>();
        want.put("embeddings.word_embeddings.weight", new int[]{c.vocabSize(), h});
        want.put("embeddings.position_embeddings.weight", new int[]{c.maxPositionEmbeddings(), h});
        want.put("embeddings.token_type_embeddings.weight", new int[]{c.typeVocabSize(), h});
        want.put("embeddings.LayerNorm.weight", new int[]{h});
        want.put("embeddings.LayerNorm.bias", new int[]{h});
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "encoder.layer." + i + ".";
            for (String m : new String[]{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
                want.put(p + m + ".weight", new int[]{h, h});
                want.put(p + m + ".bias", new int[]{h});
            }
            for (String m : new String[]{"attention.output.LayerNorm", "output.LayerNorm"}) {
                want.put(p + m + ".weight", new int[]{h});
                want.put(p + m + ".bias", new int[]{h});
            }
            want.put(p + "intermediate.dense.weight", new int[]{inter, h});
            want.put(p + "intermediate.dense.bias", new int[]{inter});
            want.put(p + "output.dense.weight", new int[]{h, inter});
            want.put(p + "output.dense.bias", new int[]{h});
        }
        if (w.containsKey("pooler.dense.weight")) {
            want.put("pooler.dense.weight", new int[]{h, h});
            want.put("pooler.dense.bias", new int[]{h});
        }
        for (var e : want.entrySet()) {
            int[] got = w.get(e.getKey()).shape().dims();
            if (!Arrays.equals(got, e.getValue())) {
                throw new OnnxFormatException(source, e.getKey(), "shape " + Arrays.toString(got) + ", expected "
                        + Arrays.toString(e.getValue()) + " for " + c);
            }
        }
    }

    /**
     * The heads the query is split into: the Reshape of the query projection to [batch, seq, heads, head_dim],
     * whose shape is a Constant or a Concat of dynamic sizes and constants. -1 when the graph does not say.
     */
    private static int inferHeads(OnnxGraph graph, String queryOut, Map<String, List<OnnxNode>> consumers,
                                  Map<String, OnnxTensor> inits, int hidden) {
        if (queryOut == null) return -1;
        Map<String, OnnxNode> producers = graph.producerByValue();
        for (OnnxNode reshape : consumers.getOrDefault(queryOut, List.of())) {
            if (!reshape.opType().equals("Reshape") || reshape.inputs().size() < 2) continue;
            String shapeValue = reshape.inputs().get(1);
            List<Long> shape = new ArrayList<>();
            OnnxNode producer = producers.get(shapeValue);
            if (producer != null && producer.opType().equals("Concat")) {
                for (String part : producer.inputs()) {
                    long[] c = constant(part, producers, inits);
                    if (c == null) shape.add(null);
                    else for (long v : c) shape.add(v);
                }
            } else {
                long[] c = constant(shapeValue, producers, inits);
                if (c == null) continue;
                for (long v : c) shape.add(v);
            }
            if (shape.size() != 4) continue;
            Long h = shape.get(2);
            Long d = shape.get(3);
            if (h != null && d != null && h > 0 && d > 0 && h * d == hidden) return Math.toIntExact(h);
        }
        return -1;
    }

    /** The integer value of a Constant node's output or an initializer, or null. */
    private static long[] constant(String value, Map<String, OnnxNode> producers, Map<String, OnnxTensor> inits) {
        OnnxTensor t = inits.get(value);
        if (t == null) {
            OnnxNode p = producers.get(value);
            if (p == null || !p.opType().equals("Constant")) return null;
            OnnxAttribute a;
            if ((a = p.attribute("value")) != null && a.t() != null) t = a.t();
            else if ((a = p.attribute("value_ints")) != null && a.ints() != null) return a.ints();
            else if ((a = p.attribute("value_int")) != null) return new long[]{a.i()};
            else return null;
        }
        return t.dataType() == OnnxTensor.INT64 || t.dataType() == OnnxTensor.INT32 ? t.longs() : null;
    }

    /** The float value of a one-element Constant or initializer, or NaN. */
    private static double scalar(String value, Map<String, OnnxNode> producers, Map<String, OnnxTensor> inits) {
        OnnxTensor t = inits.get(value);
        if (t == null) {
            OnnxNode p = producers.get(value);
            if (p == null || !p.opType().equals("Constant")) return Double.NaN;
            OnnxAttribute a;
            if ((a = p.attribute("value")) != null && a.t() != null) t = a.t();
            else if ((a = p.attribute("value_float")) != null) return a.f();
            else return Double.NaN;
        }
        return t.dataType() == OnnxTensor.FLOAT && t.elementCount() == 1 ? t.floats()[0] : Double.NaN;
    }

    /**
     * The epsilon of the LayerNorms: a LayerNormalization node's attribute, or the constant added to the
     * variance (Add(ReduceMean(...), eps)) in a decomposed LayerNorm. All must agree; none -> the BERT default.
     */
    private static double inferLayerNormEps(OnnxGraph graph, Map<String, OnnxTensor> inits, String source) throws OnnxFormatException {
        Map<String, OnnxNode> producers = graph.producerByValue();
        Set<Float> found = new TreeSet<>();
        for (OnnxNode n : graph.nodes()) {
            if (n.opType().equals("LayerNormalization")) {
                OnnxAttribute a = n.attribute("epsilon");
                found.add(a == null ? 1e-5f : a.f());               // the ONNX default
            } else if (n.opType().equals("Add") && n.inputs().size() == 2) {
                for (int i = 0; i < 2; i++) {
                    OnnxNode p = producers.get(n.inputs().get(i));
                    if (p == null || !p.opType().equals("ReduceMean")) continue;
                    double eps = scalar(n.inputs().get(1 - i), producers, inits);
                    if (!Double.isNaN(eps)) found.add((float) eps);
                }
            }
        }
        if (found.isEmpty()) return DEFAULT_LAYER_NORM_EPS;
        if (found.size() > 1) throw new OnnxFormatException(source, null, "LayerNorms disagree on epsilon: " + found);
        // The graph holds a float; config.json holds the decimal it came from (1e-12, not 9.99999996e-13).
        return Double.parseDouble(Float.toString(found.iterator().next()));
    }
}
