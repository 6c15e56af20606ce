package dev.lora4j.train;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.data.LabelledText;
import dev.lora4j.model.Weights;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertForSequenceClassification;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.TrainableParameters;
import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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

    public SequenceClassification(BertCheckpoint checkpoint, int numLabels, int maxSeqLen) {
        this.checkpoint = checkpoint;
        this.numLabels = numLabels;
        this.tokenizer = checkpoint.tokenizer().withOptions(Tokenizer.Options.builder()
            .padding(Tokenizer.Padding.LONGEST).truncation(true).maxLength(maxSeqLen).build());
    }

    public Result run(List<LabelledText> train, List<LabelledText> test, LoraConfig lora, TrainingOptions options,
                      Path outDir, boolean progress) throws IOException {
        SplittableRandom rnd = new SplittableRandom(options.seed());
        // A checkpoint without a pooler (sentence-transformers exports) gets a new one, as transformers would,
        // and it then trains with the classifier (modules_to_save), or the frozen random pooler would block learning.
        Weights weights = checkpoint.weights().orElse(Weights.random(options.seed(), 0.02f));
        boolean newPooler = !checkpoint.hasPooler();
        BertForSequenceClassification model = new BertForSequenceClassification(checkpoint.config(), weights, checkpoint.prefix(),
            BertForSequenceClassification.newClassifier(checkpoint.config(), numLabels, rnd));
        model.train(false);
        double before = accuracy(model, test);

        List<String> save = new ArrayList<>(lora.modulesToSave());
        if (!save.contains("classifier")) save.add("classifier");
        if (newPooler && !save.contains("pooler")) save.add("pooler");
        LoraConfig config = lora.withModulesToSave(save);
        LoraModel peft = LoraModel.inject(model, config, options.seed());
        TrainableParameters params = peft.trainableParameters();

        model.train(true);
        Tokenizer tok = tokenizer;
        TrainingHistory history = new Trainer(options, progress).fit(train, peft.trainableVariables(), batch -> {
            BertModel.Batch in = encode(tok, batch);
            int[] labels = batch.stream().mapToInt(LabelledText::label).toArray();
            return new Trainer.LossFunction.Result(Ops.crossEntropy(model.forward(in), labels, -100), realTokens(in));
        });
        model.train(false);
        double after = accuracy(model, test);

        PeftAdapterWriter.save(peft, "default", outDir, "SEQ_CLS", checkpoint.hubId());
        Path png = outDir.resolve("loss.png");
        LossCurve.writePng(history.losses(), "LoRA r=" + config.r() + " on " + checkpoint.name(), png);
        return new Result(before, after, params, history, outDir, png);
    }

    /** Fraction of examples whose highest logit is their label. */
    public double accuracy(BertForSequenceClassification model, List<LabelledText> data) {
        Tokenizer tok = tokenizer;
        int correct = 0;
        try (var s = Tape.noGrad()) {
            for (int i = 0; i < data.size(); i += 32) {
                List<LabelledText> batch = data.subList(i, Math.min(data.size(), i + 32));
                Variable logits = model.forward(encode(tok, batch));
                float[] l = logits.data();
                for (int b = 0; b < batch.size(); b++) {
                    int best = 0;
                    for (int c = 1; c < numLabels; c++) if (l[b * numLabels + c] > l[b * numLabels + best]) best = c;
                    if (best == batch.get(b).label()) correct++;
                }
            }
        }
        return data.isEmpty() ? 0 : (double) correct / data.size();
    }

    static BertModel.Batch encode(Tokenizer tok, List<LabelledText> batch) {
        List<Encoding> enc = tok.encodeBatch(batch.stream().map(LabelledText::text).toList());
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
