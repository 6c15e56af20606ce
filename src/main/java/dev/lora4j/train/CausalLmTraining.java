package dev.lora4j.train;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.data.Batcher;
import dev.lora4j.data.CausalLmBatch;
import dev.lora4j.data.CausalLmEncoder;
import dev.lora4j.data.CausalLmExample;
import dev.lora4j.data.Record;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.QuantizedBase;
import dev.lora4j.peft.TrainableParameters;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * LoRA fine-tuning of a decoder on text, prompt/completion or chat records (MLX-LM's `lora`, Peft + Trainer):
 * encode, batch (pad or pack), train on next-token cross-entropy, measure validation loss and perplexity
 * before and after, save a Peft CAUSAL_LM adapter with its loss curve.
 */
public final class CausalLmTraining {

    /** What a run reports; perplexity is exp(mean token loss) on the validation records (NaN without any). */
    public record Result(double lossBefore, double lossAfter, TrainableParameters parameters, TrainingHistory history,
                         Path adapterDir, Path lossCurve) {
        public double perplexityBefore() {
            return Math.exp(lossBefore);
        }

        public double perplexityAfter() {
            return Math.exp(lossAfter);
        }
    }

    private final CausalLanguageModel model;
    private final Tokenizer tokenizer;
    private final String baseModelName;
    private final int maxSeqLen;
    private final boolean maskPrompt;
    private final boolean pack;

    public CausalLmTraining(CausalLanguageModel model, Tokenizer tokenizer, String baseModelName, int maxSeqLen,
                            boolean maskPrompt, boolean pack) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.baseModelName = baseModelName;
        this.maxSeqLen = maxSeqLen;
        this.maskPrompt = maskPrompt;
        this.pack = pack;
    }

    private dev.lora4j.peft.RankSchedule rankSchedule;
    private dev.lora4j.peft.AdaLoraConfig adaLora;

    /** Trains AdaLoRA instead of LoRA, with these settings (total_step is set to the run's step count). */
    public CausalLmTraining withAdaLora(dev.lora4j.peft.AdaLoraConfig settings) {
        this.adaLora = settings;
        return this;
    }

    private boolean glora;

    /** Trains GLoRA ({@link dev.lora4j.peft.GloraLinear}) instead of LoRA on the same targets, rank r. */
    public CausalLmTraining withGlora(boolean glora) {
        this.glora = glora;
        return this;
    }

    private CausalLanguageModel teacher;
    private float distillAlpha, temperature;

    /**
     * Distillation: the loss becomes (1 − alpha)·cross-entropy + alpha·T²·KL(teacher ‖ student) on the trained
     * positions, the teacher's logits (softened by temperature T) taken on the same batch without gradients.
     * Teacher and student must share the tokenizer (the same vocabulary, the same ids).
     */
    public CausalLmTraining withTeacher(CausalLanguageModel teacher, float alpha, float temperature) {
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("distill alpha must be in [0, 1], got " + alpha);
        if (!(temperature > 0)) throw new IllegalArgumentException("temperature must be positive, got " + temperature);
        this.teacher = teacher;
        this.distillAlpha = alpha;
        this.temperature = temperature;
        ((Module) teacher).train(false);
        return this;
    }

    /** Grows the adapter's rank on this schedule (null: full rank from the start). */
    public CausalLmTraining withRankSchedule(dev.lora4j.peft.RankSchedule schedule) {
        this.rankSchedule = schedule;
        return this;
    }

    private boolean gradientCheckpointing;

    /**
     * Recomputes each layer's activations during backward instead of keeping them all (see
     * {@link dev.lora4j.nn.GradientCheckpointing}): less memory for one more forward per step.
     */
    public CausalLmTraining withGradientCheckpointing(boolean on) {
        this.gradientCheckpointing = on;
        return this;
    }

    private BaseDType baseDType = BaseDType.F32;
    private QuantizedBase.Summary baseSummary;

    /**
     * Stores the frozen decoder's linear weights as {@code dtype} (BF16, INT8, or NF4 for QLoRA); lm_head and the
     * modules trained in full stay as loaded.
     */
    public CausalLmTraining withBaseDType(BaseDType dtype) {
        this.baseDType = dtype;
        return this;
    }

    /** What the last run converted to a narrower base storage, or null when it kept the weights as loaded. */
    public QuantizedBase.Summary baseSummary() {
        return baseSummary;
    }

    private int lastTruncated, truncatedTrain;

    /** How many training records of the last run were longer than the max sequence length and were truncated. */
    public int truncatedExamples() {
        return truncatedTrain;
    }

    /** (1 − alpha)·hard loss + alpha·soft loss against the teacher's logits on the same batch. */
    private dev.lora4j.autograd.Variable distill(dev.lora4j.autograd.Variable hard, dev.lora4j.autograd.Variable logits, CausalLmBatch b) {
        float[] soft;
        try (var s = dev.lora4j.autograd.Tape.noGrad()) {
            soft = teacher.forward(b.inputIds(), b.batch(), b.seq(), b.attentionMask()).data();
        }
        var kl = Ops.distillationKl(logits, soft, temperature, b.labels(), CausalLmExample.IGNORE);
        return Ops.addScaled(Ops.scale(hard, 1 - distillAlpha), kl, distillAlpha);
    }

    public Result run(List<Record> train, List<Record> valid, LoraConfig lora, TrainingOptions options, Path outDir,
                      boolean progress, int saveEvery, boolean resume) throws IOException {
        List<CausalLmBatch> trainBatches = batches(train, options.batchSize(), options.seed(), true);
        truncatedTrain = lastTruncated;
        Truncation.report(truncatedTrain, train.size(), "training records", maxSeqLen);
        List<CausalLmBatch> validBatches = valid.isEmpty() ? List.of() : batches(valid, options.batchSize(), options.seed(), false);
        Module root = (Module) model;
        baseSummary = null;
        if (baseDType != BaseDType.F32) {
            baseSummary = QuantizedBase.applyExcept(root, baseDType, lora.modulesToSave());
        }
        dev.lora4j.peft.AdaLoraConfig ada = adaLora == null ? null : new dev.lora4j.peft.AdaLoraConfig(lora, adaLora.targetR(),
            adaLora.initR(), adaLora.tinit(), adaLora.tfinal(), adaLora.deltaT(), adaLora.beta1(), adaLora.beta2(), adaLora.orthRegWeight(),
            Trainer.totalSteps(trainBatches.size(), options.withBatchSize(1)));
        if (ada != null && glora) throw new IllegalArgumentException("AdaLoRA and GLoRA are different methods; choose one");
        LoraModel peft = ada != null ? dev.lora4j.peft.AdaLora.inject(root, "default", ada, options.seed())
            : glora ? LoraModel.injectGlora(root, "default", lora, options.seed()) : LoraModel.inject(root, lora, options.seed());
        TrainableParameters params = peft.trainableParameters();
        if (gradientCheckpointing) dev.lora4j.nn.GradientCheckpointing.enable(root, true);
        root.train(true);
        // The batches are built already (padded or packed); the trainer shuffles and takes them one at a time.
        Trainer trainer = new Trainer(options.withBatchSize(1), progress).withCheckpoints(outDir, saveEvery, resume)
            .withMetricsLog(outDir.resolve(MetricsLog.FILE)).withEvaluator(() -> {
                root.train(false);
                try {
                    double loss = meanLoss(validBatches);
                    return Map.of("eval_loss", loss, "eval_perplexity", Math.exp(loss));
                } finally {
                    root.train(true);
                }
            });
        if (rankSchedule != null) {
            if (ada != null) throw new IllegalArgumentException("--rank-schedule and AdaLoRA both set the rank; choose one");
            trainer.withStepHook(AdapterSchedules.rankSchedule(rankSchedule.start(peft, "default")));
        }
        dev.lora4j.peft.AdaLora allocator = ada == null ? null : new dev.lora4j.peft.AdaLora(peft, "default", ada);
        if (allocator != null) trainer.withStepHook(AdapterSchedules.adaLora(allocator));
        TrainingHistory history = trainer
            .fit(trainBatches, peft.trainableVariables(), micro -> {
                CausalLmBatch b = micro.getFirst();
                dev.lora4j.autograd.Variable loss;
                if (teacher != null) {
                    // Distillation reads the student's logits, so they are materialised here.
                    var logits = model.forward(b.inputIds(), b.batch(), b.seq(), b.attentionMask());
                    loss = distill(Ops.crossEntropy(logits, b.labels(), CausalLmExample.IGNORE), logits, b);
                } else {
                    loss = model.loss(b.inputIds(), b.batch(), b.seq(), b.attentionMask(), b.labels(), CausalLmExample.IGNORE);
                }
                if (allocator != null) loss = allocator.withRegulariser(loss);
                return new Trainer.LossFunction.Result(loss, b.targetCount());
            });
        root.train(false);
        double before = history.firstEval().orElseThrow().metric("eval_loss");
        double after = history.lastEval().orElseThrow().metric("eval_loss");
        if (allocator != null) PeftAdapterWriter.saveAdaLora(peft, "default", ada, allocator.rankPattern(), outDir, "CAUSAL_LM", baseModelName);
        else PeftAdapterWriter.save(peft, "default", outDir, "CAUSAL_LM", baseModelName);
        Path png = outDir.resolve("loss.png");
        LossCurve.writePng(history, (glora ? "GLoRA" : "LoRA") + " r=" + lora.r() + " on " + baseModelName, png);
        return new Result(before, after, params, history, outDir, png);
    }

    private List<CausalLmBatch> batches(List<Record> records, int batchSize, long seed, boolean shuffle) {
        Integer pad = tokenizer.padTokenId() != null ? tokenizer.padTokenId() : tokenizer.eosTokenId();
        if (pad == null) throw new IllegalArgumentException("the tokenizer defines neither a pad nor an EOS token to pad with");
        try (CausalLmEncoder encoder = tokenizer.chatTemplate().isPresent()
                ? new CausalLmEncoder(tokenizer, tokenizer.chatTemplate().get(), maxSeqLen, maskPrompt)
                : new CausalLmEncoder(tokenizer, maxSeqLen, maskPrompt)) {
            var examples = encoder.encodeAll(records);
            lastTruncated = encoder.truncatedCount();
            return Batcher.batches(examples, batchSize, pad, pack, maxSeqLen, seed, shuffle);
        }
    }

    /** Mean next-token loss over the target tokens of some records, and how many there were. */
    public record Evaluation(double loss, long tokens) {
        public double perplexity() {
            return Math.exp(loss);
        }
    }

    /** The model as it is now (with any adapter loaded), measured on {@code records} in eval mode. */
    public Evaluation evaluate(List<Record> records, int batchSize) {
        Module root = (Module) model;
        root.train(false);
        List<CausalLmBatch> batches = batches(records, batchSize, 0, false);
        long tokens = batches.stream().mapToLong(CausalLmBatch::targetCount).sum();
        return new Evaluation(meanLoss(batches), tokens);
    }

    /** Mean next-token loss over all target tokens of the batches (NaN for none). */
    private double meanLoss(List<CausalLmBatch> batches) {
        double sum = 0;
        long tokens = 0;
        try (var s = Tape.noGrad()) {
            for (CausalLmBatch b : batches) {
                var loss = model.loss(b.inputIds(), b.batch(), b.seq(), b.attentionMask(), b.labels(), CausalLmExample.IGNORE);
                sum += (double) loss.data()[0] * b.targetCount();
                tokens += b.targetCount();
            }
        }
        return tokens == 0 ? Double.NaN : sum / tokens;
    }
}
