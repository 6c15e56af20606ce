package dev.lora4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lora4j.compress.ModelCompression;
import dev.lora4j.data.LabelledText;
import dev.lora4j.data.TopicsDataset;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.onnx.BuiltinBertModel;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertConfig;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.train.SentenceEmbeddings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * `compress` on a BERT-family sentence encoder (all-MiniLM-L6-v2 and Hugging Face BERT directories). An encoder has
 * no eval loss, so quality is measured on the built-in topics data with no training: the mean cosine between each
 * test sentence's embedding before and after compression (1 = unchanged), and the accuracy of a nearest-centroid
 * topic classifier (centroids of the training sentences' embeddings, computed by the same model), before and after.
 */
final class EncoderCompression {
    private static final int BATCH = 32;

    /** What compressing changed: the report, the mean cosine to the original embeddings, accuracy before/after. */
    record Result(ModelCompression.Report report, double meanCosine, double minCosine, double accuracyBefore, double accuracyAfter) {}

    private EncoderCompression() {}

    /** True when {@code model} names a BERT encoder: a built-in name or a directory with model_type bert. */
    static boolean isEncoder(String model) throws IOException {
        Path p = Path.of(model);
        if (Files.isDirectory(p)) return HfModelDirectory.open(p).modelType().equals("bert");
        return BertCheckpoint.isBuiltin(model);
    }

    /** Measures on the first {@code sentences} test sentences, with centroids from the first 2·sentences training ones. */
    static Result run(String model, ModelCompression.Options options, int maxSeqLen, int sentences, Path out) throws IOException {
        if (sentences < 1) throw new IllegalArgumentException("--sentences must be positive, got " + sentences);
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        SentenceEmbeddings e = new SentenceEmbeddings(checkpoint, maxSeqLen);
        List<LabelledText> train = TopicsDataset.train(), test = TopicsDataset.test();
        train = train.subList(0, Math.min(train.size(), 2 * sentences));
        test = test.subList(0, Math.min(test.size(), sentences));
        List<String> testTexts = test.stream().map(LabelledText::text).toList();
        List<float[]> before = e.embed(testTexts, BATCH);
        double accBefore = nearestCentroidAccuracy(e, train, test, before);
        ModelCompression.Report report = ModelCompression.compress(e.model(), options);
        List<float[]> after = e.embed(testTexts, BATCH);
        double accAfter = nearestCentroidAccuracy(e, train, test, after);
        double sum = 0, min = 1;
        for (int i = 0; i < before.size(); i++) {
            double c = cosine(before.get(i), after.get(i));
            sum += c;
            min = Math.min(min, c);
        }
        write(checkpoint, e, model, out);
        return new Result(report, sum / before.size(), min, accBefore, accAfter);
    }

    /** Each test sentence gets the topic whose centroid (mean training embedding) is most cosine-similar. */
    private static double nearestCentroidAccuracy(SentenceEmbeddings e, List<LabelledText> train, List<LabelledText> test, List<float[]> testEmb) {
        List<float[]> trainEmb = e.embed(train.stream().map(LabelledText::text).toList(), BATCH);
        int labels = TopicsDataset.LABELS.size(), dim = trainEmb.get(0).length;
        double[][] centroid = new double[labels][dim];
        for (int i = 0; i < train.size(); i++) {
            float[] v = trainEmb.get(i);
            for (int d = 0; d < dim; d++) centroid[train.get(i).label()][d] += v[d];
        }
        int correct = 0;
        for (int i = 0; i < test.size(); i++) {
            int best = -1;
            double bestSim = Double.NEGATIVE_INFINITY;
            for (int l = 0; l < labels; l++) {
                float[] c = new float[dim];
                for (int d = 0; d < dim; d++) c[d] = (float) centroid[l][d];
                double s = cosine(testEmb.get(i), c);
                if (s > bestSim) { bestSim = s; best = l; }
            }
            if (best == test.get(i).label()) correct++;
        }
        return (double) correct / test.size();
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    /** A Hugging Face BERT directory: config.json, model.safetensors (dense weights) and the tokenizer files. */
    private static void write(BertCheckpoint checkpoint, SentenceEmbeddings e, String model, Path out) throws IOException {
        Files.createDirectories(out);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        e.model().namedParameters().forEach((name, v) -> tensors.put(name, v.value()));
        SafetensorsWriter.write(out.resolve("model.safetensors"), tensors, Map.of());
        BertConfig c = checkpoint.config();
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.putArray("architectures").add("BertModel");
        o.put("model_type", "bert");
        o.put("_name_or_path", checkpoint.hubId());
        o.put("vocab_size", c.vocabSize());
        o.put("hidden_size", c.hiddenSize());
        o.put("num_hidden_layers", c.numHiddenLayers());
        o.put("num_attention_heads", c.numAttentionHeads());
        o.put("intermediate_size", c.intermediateSize());
        o.put("hidden_act", c.hiddenAct());
        o.put("max_position_embeddings", c.maxPositionEmbeddings());
        o.put("type_vocab_size", c.typeVocabSize());
        o.put("layer_norm_eps", c.layerNormEps());
        writeAtomically(out.resolve(HfModelDirectory.CONFIG_FILE),
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(o));
        Path dir = Path.of(model);
        if (Files.isDirectory(dir)) {
            for (Path p : HfModelDirectory.open(dir).tokenizerFiles()) {
                Files.copy(p, out.resolve(p.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
            }
        } else {
            writeAtomically(out.resolve("tokenizer.json"), BuiltinBertModel.byName(model).tokenizerJson());
        }
    }

    private static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.write(tmp, bytes);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
