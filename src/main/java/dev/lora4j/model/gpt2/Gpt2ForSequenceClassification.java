package dev.lora4j.model.gpt2;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.LastToken;
import dev.lora4j.model.Weights;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/**
 * transformers' GPT2ForSequenceClassification: {@code transformer} and {@code score} (a bias-free linear
 * [numLabels, n_embd]) applied to the hidden state of each sequence's last real token.
 */
public final class Gpt2ForSequenceClassification extends Module {
    private final Slot<Gpt2Model> transformer;
    private final Slot<LinearLayer> score;

    /** @param weights the decoder's weights, with or without the "transformer." prefix */
    public Gpt2ForSequenceClassification(Gpt2Config config, Weights weights, Linear score) {
        if (score.inFeatures() != config.nEmbd() || score.bias() != null) {
            throw new IllegalArgumentException("score must be a bias-free Linear [numLabels, " + config.nEmbd() + "], got " + score.weight().shape());
        }
        String prefix = weights.has("transformer.wte.weight") ? "transformer." : "";
        this.transformer = register("transformer", new Gpt2Model(config, weights, prefix));
        this.score = register("score", score);
    }

    /** A new head as transformers initialises it: normal(0, 0.02), no bias. */
    public static Linear newScore(Gpt2Config config, int numLabels, RandomGenerator rnd) {
        float[] w = new float[numLabels * config.nEmbd()];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.02);
        return new Linear(Variable.parameter(Tensor.of(w, numLabels, config.nEmbd())), null);
    }

    /** Logits [batch, numLabels] from each row's last real token (right padding; null mask = all real). */
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        Variable hidden = transformer.get().forward(inputIds, batch, seq, attentionMask);
        return score.get().forward(Ops.selectRows(hidden, LastToken.rows(batch, seq, attentionMask)));
    }
}
