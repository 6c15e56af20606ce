package dev.lora4j.model.bert;

import dev.lora4j.autograd.Variable;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import java.util.random.RandomGenerator;

/**
 * transformers' BertForSequenceClassification: {@code bert} (encoder with pooler) and {@code classifier}
 * (a linear on the pooled [CLS] vector). Module paths therefore read {@code bert.encoder.layer.0...} and
 * {@code classifier}, which is what a Peft adapter for this class names.
 */
public final class BertForSequenceClassification extends Module {
    private final Slot<BertModel> bert;
    private final Slot<LinearLayer> classifier;

    /**
     * @param encoderWeights the encoder's weights, looked up under {@code encoderPrefix} ("" for a bare BertModel
     *                       checkpoint such as MiniLM's, "bert." for a BertForSequenceClassification one)
     * @param classifier     the head; new heads start as PyTorch initialises them
     */
    public BertForSequenceClassification(BertConfig config, Weights encoderWeights, String encoderPrefix, Linear classifier) {
        this.bert = register("bert", new BertModel(config, encoderWeights, encoderPrefix, true));
        this.classifier = register("classifier", classifier);
    }

    /** A new, randomly initialised head (transformers: normal(0, 0.02) weight, zero bias). */
    public static Linear newClassifier(BertConfig config, int numLabels, RandomGenerator rnd) {
        Linear l = Linear.random(config.hiddenSize(), numLabels, true, rnd);
        float[] w = l.weight().data();
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.02);
        java.util.Arrays.fill(l.bias().data(), 0f);
        return l;
    }

    public BertModel bert() {
        return bert.get();
    }

    /** Logits [batch, numLabels]. */
    public Variable forward(BertModel.Batch in) {
        Variable hidden = bert.get().forward(in);
        return classifier.get().forward(bert.get().pool(hidden, in.batch(), in.seq()));
    }
}
