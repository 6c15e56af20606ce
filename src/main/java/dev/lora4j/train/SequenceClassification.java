package dev.lora4j.train;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.data.LabelledText;
import dev.lora4j.model.Weights;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertForSequenceClassification;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.QuantizedBase;
import dev.lora4j.peft.TrainableParameters;
import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRA fine-tuning of a BERT encoder for sequence classification, end to end: build
 * BertForSequenceClassification, measure accuracy, inject LoRA, train, measure again, save the adapter in
 * Peft's format with a loss-curve PNG beside it.
 */
public final class SequenceClassification {

    /** What a run reports. */
    public record Result(double accuracyBefore, double accuracyAfter, TrainableParameters parameters,
                         TrainingHistory history, Path adapterDir, Path lossCurve) {}

    private final BertCheckpoint checkpoint;
    private final int numLabels;
    private final Tokenizer tokenizer;
    private final int maxSeqLen;

    public SequenceClassification(BertCheckpoint checkpoint, int numLabels, int maxSeqLen) {
        this.checkpoint = checkpoint;
        this.numLabels = numLabels;
        this.maxSeqLen = maxSeqLen;
        this.tokenizer = checkpoint.tokenizer().withOptions(Tokenizer.Options.builder()
            .padding(Tokenizer.Padding.LONGEST).truncation(true).maxLength(maxSeqLen).build());
    }

    /** The label names in id order, written next to the adapter as labels.json (transformers keeps them as id2label). */
    private List<String> labelNames;

    public SequenceClassification withLabelNames(List<String> names) {
        this.labelNames = List.copyOf(names);
        return this;
    }

    public static final String LABELS_FILE = "labels.json";

    private int saveEvery;
    private boolean resume;

    /**
     * Checkpoints into {@code <out>/checkpoint-N} every {@code saveEvery} steps (0 = never); with {@code resume},
     * a run continues from the latest one there. LoRA dropout masks after a resume are new draws, so with dropout
     * on, a resumed run is a correct continuation but not bit-identical to an uninterrupted one.
     */
    private dev.lora4j.peft.RankSchedule rankSchedule;
    private dev.lora4j.peft.AdaLoraConfig adaLora;

    /**
     * The AdaLoRA settings of {@link Method#ADALORA} runs (targets, alpha and dropout come from the run's LoRA
     * config; total_step is set to the run's step count).
     */
    public SequenceClassification withAdaLora(dev.lora4j.peft.AdaLoraConfig settings) {
        this.adaLora = settings;
        return this;
    }

    /** LoRA runs grow their rank on this schedule (null: full rank from the start). */
    public SequenceClassification withRankSchedule(dev.lora4j.peft.RankSchedule schedule) {
        this.rankSchedule = schedule;
        return this;
    }

    public SequenceClassification withCheckpoints(int saveEvery, boolean resume) {
        this.saveEvery = saveEvery;
        this.resume = resume;
        return this;
    }

    private boolean gradientCheckpointing;

    /**
     * Recomputes each layer's activations during backward instead of keeping them all (see
     * {@link dev.lora4j.nn.GradientCheckpointing}): less memory for one more forward per step.
     */
    public SequenceClassification withGradientCheckpointing(boolean on) {
        this.gradientCheckpointing = on;
        return this;
    }

    private BaseDType baseDType = BaseDType.F32;
    private QuantizedBase.Summary baseSummary;

    /**
     * Stores the frozen base's linear weights as {@code dtype} (BF16, INT8, NF4) for LoRA or head-only training;
     * {@link Method#QLORA} implies NF4. Full fine-tuning needs F32.
     */
    public SequenceClassification withBaseDType(BaseDType dtype) {
        this.baseDType = dtype;
        return this;
    }

    /** What the last run converted to a narrower base storage, or null when it kept the weights as loaded. */
    public QuantizedBase.Summary baseSummary() {
        return baseSummary;
    }

    private double lrRatio = 1;
    private double l2;

    /**
     * LoRA+ (Hayou et al. 2024): B learns at {@code lrRatio} times the rate of A (and of the head); and an L2
     * penalty {@code l2}·Σ‖p‖² over the LoRA matrices added to the loss. Both apply to LoRA methods only.
     */
    public SequenceClassification withLoraPlus(double lrRatio, double l2) {
        LoraParameterGroups.of(Map.of(), lrRatio, 0, l2); // validates
        this.lrRatio = lrRatio;
        this.l2 = l2;
        return this;
    }

    /**
     * labels.json beside the adapter: {@code {"id2label": {"0": name, ...}, "label2id": {name: 0, ...}}}, the two
     * maps transformers keeps in a classifier's config.json (Peft adapters have no place for them).
     */
    private static void writeLabels(Path dir, List<String> names) throws IOException {
        Map<String, String> id2label = new java.util.LinkedHashMap<>();
        Map<String, Integer> label2id = new java.util.LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            id2label.put(Integer.toString(i), names.get(i));
            label2id.put(names.get(i), i);
        }
        dev.lora4j.io.AtomicFiles.write(dir.resolve(LABELS_FILE),
            new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(Map.of("id2label", id2label, "label2id", label2id)));
    }

    /**
     * Label names in id order saved with an adapter by a training run (labels.json: the id2label map, or a plain
     * list of names), or empty when the adapter has none.
     */
    public static List<String> readLabels(Path adapterDir) throws IOException {
        Path f = adapterDir.resolve(LABELS_FILE);
        if (!Files.exists(f)) return List.of();
        com.fasterxml.jackson.databind.JsonNode n = new ObjectMapper().readTree(f.toFile());
        if (n.isArray()) return List.of(new ObjectMapper().treeToValue(n, String[].class));
        com.fasterxml.jackson.databind.JsonNode id2label = n.path("id2label");
        if (!id2label.isObject()) throw new IOException(f + ": expected {\"id2label\": {\"0\": name, ...}} or a list of label names");
        List<String> names = new ArrayList<>();
        for (int i = 0; i < id2label.size(); i++) {
            com.fasterxml.jackson.databind.JsonNode name = id2label.get(Integer.toString(i));
            if (name == null || !name.isTextual()) throw new IOException(f + ": id2label has no name for id " + i + " (ids must run 0.." + (id2label.size() - 1) + ")");
            names.add(name.asText());
        }
        return List.copyOf(names);
    }

    /**
     * The classifier saved in {@code adapterDir} (LoRA weights plus the classifier and pooler trained in full),
     * rebuilt on this checkpoint: the model that {@link #accuracy} then measures.
     */
    public BertForSequenceClassification loadTrained(Path adapterDir) throws IOException {
        Weights weights = checkpoint.weights().orElse(Weights.random(0, 0.02f));
        BertForSequenceClassification model = new BertForSequenceClassification(checkpoint.config(), weights, checkpoint.prefix(),
            BertForSequenceClassification.newClassifier(checkpoint.config(), numLabels, new SplittableRandom(0)));
        PeftAdapterReader.load(model, adapterDir, "default", 0);
        model.train(false);
        return model;
    }

    /**
     * What trains: LoRA (adapters, plus the head in full) or one of its variants (QLoRA: LoRA on a base quantized
     * to NF4; LoRA-FA; DoRA; AdaLoRA: an adaptive rank budget), full fine-tuning (every weight) or head only (the
     * classifier and a new pooler, the encoder frozen): the two baselines LoRA is judged against.
     */
    public enum Method {
        LORA, /** LoRA on a base quantized to NF4. */ QLORA, /** LoRA-FA: A frozen, only B (and the head) train. */ LORA_FA,
        /** DoRA: magnitude + LoRA direction. */ DORA, /** AdaLoRA: SVD-form update with a rank budget. */ ADALORA,
        /** GLoRA: W0 + W0⊙A + B and a learned bias (see {@link dev.lora4j.peft.GloraLinear}). */ GLORA,
        FULL, HEAD;

        /** Whether this method trains an adapter (saved in Peft's format). */
        public boolean lora() {
            return this != FULL && this != HEAD;
        }

        /** The LoRA config this method trains with: {@code c} with DoRA or a frozen A switched on as the method says. */
        public LoraConfig configure(LoraConfig c) {
            return switch (this) {
                case LORA_FA -> c.withFrozenA(true);
                case DORA -> c.withDora(true);
                default -> c;
            };
        }

        /** The name on the command line: lora, qlora, lora-fa, dora, adalora, glora, full, head. */
        public String cliName() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    private int truncatedTrain;

    /** How many training texts of the last run were longer than the max sequence length and were truncated. */
    public int truncatedExamples() {
        return truncatedTrain;
    }

    public Result run(List<LabelledText> train, List<LabelledText> test, LoraConfig lora, TrainingOptions options,
                      Path outDir, boolean progress) throws IOException {
        return run(train, test, Method.LORA, lora, options, outDir, progress);
    }

    /**
     * Trains with {@code method}. LoRA saves a Peft adapter; full and head save the weights they trained as
     * model.safetensors (full: the whole model, head: the head's weights), each with labels and loss curve.
     */
    public Result run(List<LabelledText> train, List<LabelledText> test, Method method, LoraConfig lora, TrainingOptions options,
                      Path outDir, boolean progress) throws IOException {
        SplittableRandom rnd = new SplittableRandom(options.seed());
        truncatedTrain = Truncation.count(tokenizer, train.stream().map(LabelledText::text).toList());
        Truncation.report(truncatedTrain, train.size(), "training texts", maxSeqLen);
        // A checkpoint without a pooler (sentence-transformers exports) gets a new one, as transformers would,
        // and it then trains with the classifier (modules_to_save), or the frozen random pooler would block learning.
        Weights weights = checkpoint.weights().orElse(Weights.random(options.seed(), 0.02f));
        boolean newPooler = !checkpoint.hasPooler();
        BertForSequenceClassification model = new BertForSequenceClassification(checkpoint.config(), weights, checkpoint.prefix(),
            BertForSequenceClassification.newClassifier(checkpoint.config(), numLabels, rnd));
        List<String> save = new ArrayList<>(lora.modulesToSave());
        if (!save.contains("classifier")) save.add("classifier");
        if (newPooler && !save.contains("pooler")) save.add("pooler");
        BaseDType base = method == Method.QLORA ? BaseDType.NF4 : baseDType;
        baseSummary = null;
        if (base != BaseDType.F32) {
            if (method == Method.FULL) throw new IllegalArgumentException("base dtype " + base + " needs a frozen base: use it with lora, qlora or head");
            // Before training's first evaluation (the "before" accuracy), so that both measurements see the same base.
            baseSummary = QuantizedBase.applyExcept(model, base, save);
        }
        LoraModel peft = null;
        dev.lora4j.peft.AdaLoraConfig ada = null;
        switch (method) {
            case LORA, QLORA, LORA_FA, DORA -> peft = LoraModel.inject(model, method.configure(lora).withModulesToSave(save), options.seed());
            case ADALORA -> {
                dev.lora4j.peft.AdaLoraConfig given = adaLora != null ? adaLora : dev.lora4j.peft.AdaLoraConfig.of(lora, Long.MAX_VALUE);
                ada = new dev.lora4j.peft.AdaLoraConfig(lora.withModulesToSave(save), given.targetR(), given.initR(), given.tinit(), given.tfinal(),
                    given.deltaT(), given.beta1(), given.beta2(), given.orthRegWeight(), Trainer.totalSteps(train.size(), options));
                peft = dev.lora4j.peft.AdaLora.inject(model, "default", ada, options.seed());
            }
            case GLORA -> peft = LoraModel.injectGlora(model, "default", lora.withModulesToSave(save), options.seed());
            case FULL -> model.setTrainable(true);
            case HEAD -> {
                model.setTrainable(false);
                model.namedParameters().forEach((name, v) -> {
                    for (String head : save) if (name.startsWith(head + ".") || name.contains("." + head + ".")) v.setRequiresGrad(true);
                });
            }
        }
        TrainableParameters params = TrainableParameters.of(model);
        Map<String, Variable> named = new java.util.LinkedHashMap<>();
        model.namedParameters().forEach((name, v) -> { if (v.requiresGrad()) named.put(name, v); });
        LoraParameterGroups groups = method.lora() ? LoraParameterGroups.of(named, lrRatio, options.weightDecay(), l2)
            : LoraParameterGroups.of(named, 1, options.weightDecay(), 0);

        if (gradientCheckpointing) dev.lora4j.nn.GradientCheckpointing.enable(model, true);
        model.train(true);
        Tokenizer tok = tokenizer;
        Trainer trainer = new Trainer(options, progress).withCheckpoints(outDir, saveEvery, resume)
            .withMetricsLog(outDir.resolve(MetricsLog.FILE)).withEvaluator(() -> {
                model.train(false);
                try {
                    Evaluation e = evaluate(model, test);
                    return Map.of("eval_loss", e.loss(), "eval_accuracy", e.accuracy());
                } finally {
                    model.train(true);
                }
            });
        if (peft != null && rankSchedule != null) {
            if (ada != null) throw new IllegalArgumentException("--rank-schedule and AdaLoRA both set the rank; choose one");
            trainer.withStepHook(AdapterSchedules.rankSchedule(rankSchedule.start(peft, "default")));
        }
        dev.lora4j.peft.AdaLora allocator = ada == null ? null : new dev.lora4j.peft.AdaLora(peft, "default", ada);
        if (allocator != null) trainer.withStepHook(AdapterSchedules.adaLora(allocator));
        TrainingHistory history = trainer.fitGroups(train, groups.groups(), batch -> {
            BertModel.Batch in = encode(tok, batch);
            int[] labels = batch.stream().mapToInt(LabelledText::label).toArray();
            Variable loss = groups.penalise(Ops.crossEntropy(model.forward(in), labels, -100));
            return new Trainer.LossFunction.Result(allocator == null ? loss : allocator.withRegulariser(loss), realTokens(in));
        });
        model.train(false);
        double before = history.firstEval().orElseThrow().metric("eval_accuracy");
        double after = history.lastEval().orElseThrow().metric("eval_accuracy");

        if (allocator != null) {
            PeftAdapterWriter.saveAdaLora(peft, "default", ada, allocator.rankPattern(), outDir, "SEQ_CLS", checkpoint.hubId());
        } else if (peft != null) {
            PeftAdapterWriter.save(peft, "default", outDir, "SEQ_CLS", checkpoint.hubId());
        } else {
            Files.createDirectories(outDir);
            Map<String, dev.lora4j.tensor.Tensor> tensors = new java.util.LinkedHashMap<>();
            model.namedParameters().forEach((name, v) -> { if (v.requiresGrad()) tensors.put(name, v.value()); });
            SafetensorsWriter.write(outDir.resolve("model.safetensors"), tensors, Map.of("lora4j_method", method.name().toLowerCase(java.util.Locale.ROOT)));
        }
        if (labelNames != null) writeLabels(outDir, labelNames);
        Path png = outDir.resolve("loss.png");
        String title = method == Method.ADALORA ? "AdaLoRA r=" + ada.initR() + "->" + ada.targetR()
            : method == Method.LORA ? "LoRA r=" + lora.r()
            : method.lora() ? method.cliName() + " r=" + lora.r() : method.cliName() + " fine-tuning";
        LossCurve.writePng(history, title + " on " + checkpoint.name(), png);
        return new Result(before, after, params, history, outDir, png);
    }


    /** Fraction of examples whose highest logit is their label. */
    public double accuracy(BertForSequenceClassification model, List<LabelledText> data) {
        return evaluate(model, data).accuracy();
    }

    /**
     * What eval reports for classification: mean cross-entropy, accuracy, and per-class precision and recall
     * (NaN for a class never predicted / never present).
     */
    public record Evaluation(double loss, double accuracy, int examples, double[] precision, double[] recall) {}

    public Evaluation evaluate(BertForSequenceClassification model, List<LabelledText> data) {
        int correct = 0;
        int[] predicted = new int[numLabels], actual = new int[numLabels], hits = new int[numLabels];
        double lossSum = 0;
        try (var s = Tape.noGrad()) {
            for (int i = 0; i < data.size(); i += 32) {
                List<LabelledText> batch = data.subList(i, Math.min(data.size(), i + 32));
                Variable logits = model.forward(encode(tokenizer, batch));
                int[] labels = batch.stream().mapToInt(LabelledText::label).toArray();
                lossSum += Ops.crossEntropy(logits, labels, -100).data()[0] * batch.size();
                float[] l = logits.data();
                for (int b = 0; b < batch.size(); b++) {
                    int best = 0;
                    for (int c = 1; c < numLabels; c++) if (l[b * numLabels + c] > l[b * numLabels + best]) best = c;
                    predicted[best]++;
                    actual[labels[b]]++;
                    if (best == labels[b]) {
                        correct++;
                        hits[best]++;
                    }
                }
            }
        }
        double[] precision = new double[numLabels], recall = new double[numLabels];
        for (int c = 0; c < numLabels; c++) {
            precision[c] = predicted[c] == 0 ? Double.NaN : (double) hits[c] / predicted[c];
            recall[c] = actual[c] == 0 ? Double.NaN : (double) hits[c] / actual[c];
        }
        int n = data.size();
        return new Evaluation(n == 0 ? Double.NaN : lossSum / n, n == 0 ? 0 : (double) correct / n, n, precision, recall);
    }


    /** Class probabilities (softmax over the logits) of each text, in order; what serving's /v1/classify answers. */
    public float[][] probabilities(BertForSequenceClassification model, List<String> texts) {
        float[][] out = new float[texts.size()][];
        try (var s = Tape.noGrad()) {
            for (int i = 0; i < texts.size(); i += 32) {
                List<String> batch = texts.subList(i, Math.min(texts.size(), i + 32));
                float[] l = model.forward(encodeTexts(tokenizer, batch)).data();
                for (int b = 0; b < batch.size(); b++) {
                    float[] p = new float[numLabels];
                    dev.lora4j.kernel.Softmax.forward(java.util.Arrays.copyOfRange(l, b * numLabels, (b + 1) * numLabels), p, 1, numLabels);
                    out[i + b] = p;
                }
            }
        }
        return out;
    }

    static BertModel.Batch encode(Tokenizer tok, List<LabelledText> batch) {
        return encodeTexts(tok, batch.stream().map(LabelledText::text).toList());
    }

    static BertModel.Batch encodeTexts(Tokenizer tok, List<String> texts) {
        List<Encoding> enc = tok.encodeBatch(texts);
        int b = enc.size(), seq = enc.get(0).length();
        int[] ids = new int[b * seq], types = new int[b * seq], mask = new int[b * seq];
        for (int i = 0; i < b; i++) {
            System.arraycopy(enc.get(i).ids(), 0, ids, i * seq, seq);
            System.arraycopy(enc.get(i).typeIds(), 0, types, i * seq, seq);
            System.arraycopy(enc.get(i).attentionMask(), 0, mask, i * seq, seq);
        }
        return new BertModel.Batch(ids, types, mask, b, seq);
    }

    private static long realTokens(BertModel.Batch in) {
        long n = 0;
        for (int m : in.attentionMask()) n += m;
        return n;
    }
}
