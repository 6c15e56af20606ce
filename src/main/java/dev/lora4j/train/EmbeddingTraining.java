package dev.lora4j.train;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.data.Record;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.TrainableParameters;
import dev.lora4j.train.SentenceEmbeddings.Retrieval;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Contrastive LoRA fine-tuning of a sentence-embedding model on (anchor, positive[, negative]) pairs with
 * in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss, scale 20): each anchor must score its
 * own positive above every other positive and negative in the batch. Judged by retrieval accuracy@1 and MRR.
 */
public final class EmbeddingTraining {
    /** sentence-transformers' default similarity scale for this loss. */
    static final float SCALE = 20f;

    public record Result(Retrieval before, Retrieval after, TrainableParameters parameters, TrainingHistory history,
                         Path adapterDir, Path lossCurve) {}

    private final BertCheckpoint checkpoint;
    private final Tokenizer tokenizer;
    private final int maxSeqLen;

    public EmbeddingTraining(BertCheckpoint checkpoint, int maxSeqLen) {
        this.checkpoint = checkpoint;
        this.tokenizer = SentenceEmbeddings.tokenizer(checkpoint, maxSeqLen);
        this.maxSeqLen = maxSeqLen;
    }

    private boolean gradientCheckpointing;

    /**
     * Recomputes each layer's activations during backward instead of keeping them all (see
     * {@link dev.lora4j.nn.GradientCheckpointing}): less memory for one more forward per step.
     */
    public EmbeddingTraining withGradientCheckpointing(boolean on) {
        this.gradientCheckpointing = on;
        return this;
    }

    private int truncatedTrain;

    /** How many training texts of the last run were longer than the max sequence length and were truncated. */
    public int truncatedExamples() {
        return truncatedTrain;
    }

    public Result run(List<Record.Pair> train, List<Record.Pair> eval, LoraConfig lora, TrainingOptions options, Path outDir,
                      boolean progress, int saveEvery, boolean resume) throws IOException {
        List<String> texts = new ArrayList<>();
        for (Record.Pair p : train) {
            texts.add(p.anchor());
            texts.add(p.positive());
            if (p.negative() != null) texts.add(p.negative());
        }
        truncatedTrain = Truncation.count(tokenizer, texts);
        Truncation.report(truncatedTrain, texts.size(), "training texts (anchors, positives, negatives)", maxSeqLen);
        BertModel model = new BertModel(checkpoint.config(), checkpoint.weights(), checkpoint.prefix(), false);
        LoraModel peft = LoraModel.inject(model, lora, options.seed());
        TrainableParameters params = peft.trainableParameters();
        if (gradientCheckpointing) dev.lora4j.nn.GradientCheckpointing.enable(model, true);
        model.train(true);
        TrainingHistory history = new Trainer(options, progress).withCheckpoints(outDir, saveEvery, resume)
            .withMetricsLog(outDir.resolve(MetricsLog.FILE)).withEvaluator(() -> {
                model.train(false);
                try {
                    Retrieval r = new SentenceEmbeddings(model, tokenizer).retrieval(eval);
                    return Map.of("eval_accuracy_at_1", r.accuracyAt1(), "eval_mrr", r.mrr());
                } finally {
                    model.train(true);
                }
            })
            .fit(train, peft.trainableVariables(), batch -> {
                List<String> anchors = new ArrayList<>(), candidates = new ArrayList<>();
                for (Record.Pair p : batch) {
                    anchors.add(p.anchor());
                    candidates.add(p.positive());
                }
                for (Record.Pair p : batch) if (p.negative() != null) candidates.add(p.negative());
                Variable a = embed(model, anchors), c = embed(model, candidates);
                // scores[i][j] = scale·cos(anchor i, candidate j); the right answer for anchor i is candidate i.
                Variable scores = Ops.scale(Ops.linear(a, c, null), SCALE);
                int[] targets = java.util.stream.IntStream.range(0, batch.size()).toArray();
                return new Trainer.LossFunction.Result(Ops.crossEntropy(scores, targets, -100), anchors.size() + candidates.size());
            });
        model.train(false);
        Retrieval before = asRetrieval(history.firstEval().orElseThrow()), after = asRetrieval(history.lastEval().orElseThrow());
        PeftAdapterWriter.save(peft, "default", outDir, "FEATURE_EXTRACTION", checkpoint.hubId());
        Path png = outDir.resolve("loss.png");
        LossCurve.writePng(history, "LoRA r=" + lora.r() + " contrastive, " + checkpoint.name(), png);
        return new Result(before, after, params, history, outDir, png);
    }

    private static Retrieval asRetrieval(TrainingHistory.Eval e) {
        return new Retrieval(e.metric("eval_accuracy_at_1"), e.metric("eval_mrr"));
    }

    private Variable embed(BertModel model, List<String> texts) {
        return model.embed(SentenceEmbeddings.batch(tokenizer.encodeBatch(texts)));
    }
}
