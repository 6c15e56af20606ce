package dev.lora4j.model.llama;

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
 * transformers' LlamaForSequenceClassification (also Mistral's and Qwen2's): {@code model} (the decoder) and
 * {@code score} (hidden → num_labels, no bias) applied to the hidden state of each sequence's last real token.
 * Module paths read {@code model.layers.0...} and {@code score}, which is what a Peft SEQ_CLS adapter names
 * (with {@code score} under modules_to_save).
 *
 * <p>transformers picks the last token that is not pad_token_id; here the last position whose attention mask
 * is 1, which is the same token for right padding (and for left padding) whenever padding is what the mask
 * marks, and needs no pad id.
 */
public final class LlamaForSequenceClassification extends Module {
    private final LlamaConfig config;
    private final Slot<LlamaModel> model;
    private final Slot<LinearLayer> score;

    /**
     * @param weights the decoder's weights under {@code model.} (a causal-LM or a classification checkpoint; an
     *                lm_head in it is simply not used)
     * @param score   the head [numLabels, hidden], e.g. {@link #newScore} or one read from a checkpoint with {@link #score(Weights, LlamaConfig, int)}
     */
    public LlamaForSequenceClassification(LlamaConfig config, Weights weights, Linear score) {
        if (score.inFeatures() != config.hiddenSize() || score.bias() != null) {
            throw new IllegalArgumentException("score must be a bias-free Linear [numLabels, " + config.hiddenSize() + "], got weight "
                + score.weight().shape() + (score.bias() != null ? " with a bias" : ""));
        }
        this.config = config;
        this.model = register("model", new LlamaModel(config, weights, "model."));
        this.score = register("score", score);
    }

    /** A new head as transformers initialises it: normal(0, initializer_range = 0.02), no bias. */
    public static Linear newScore(LlamaConfig config, int numLabels, RandomGenerator rnd) {
        float[] w = new float[numLabels * config.hiddenSize()];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.02);
        return new Linear(Variable.parameter(Tensor.of(w, numLabels, config.hiddenSize())), null);
    }

    /** The head {@code score.weight} [numLabels, hidden] of a classification checkpoint. */
    public static Linear score(Weights weights, LlamaConfig config, int numLabels) {
        return LlamaModel.linear(weights, "score", config.hiddenSize(), numLabels, false);
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaModel model() {
        return model.get();
    }

    public LinearLayer score() {
        return score.get();
    }

    /** Logits [batch, numLabels] from each row's last real token (null mask: the last position). */
    public Variable forward(int[] inputIds, int batch, int seq, int[] attentionMask) {
        Variable hidden = model.get().forward(inputIds, batch, seq, attentionMask);
        return score.get().forward(Ops.selectRows(hidden, LastToken.rows(batch, seq, attentionMask)));
    }
}
