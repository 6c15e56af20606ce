package dev.lora4j.model.rnn;

import dev.lora4j.autograd.ConvOps;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.EmbeddingLayer;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Lstm;
import dev.lora4j.nn.LstmLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import java.util.SplittableRandom;

/**
 * A sequence classifier: token embedding, a (multi-layer, optionally bidirectional) LSTM, the mean of its
 * outputs over time, a linear head. Parameter names are those of the PyTorch module one would write for it
 * ({@code embedding.weight}, {@code lstm.weight_ih_l0} ..., {@code fc.weight}, {@code fc.bias}).
 */
public final class LstmClassifier extends Module {
    /** The sizes. */
    public record Config(int vocab, int embed, int hidden, int layers, boolean bidirectional, int numClasses) {}

    private final Config config;
    private final Slot<EmbeddingLayer> embedding;
    private final Slot<LstmLayer> lstm;
    private final Slot<LinearLayer> fc;

    public LstmClassifier(Config config, long seed) {
        this.config = config;
        SplittableRandom rnd = new SplittableRandom(seed);
        embedding = register("embedding", Embedding.random(config.vocab(), config.embed(), rnd));
        lstm = register("lstm", Lstm.random(config.embed(), config.hidden(), config.layers(), config.bidirectional(), rnd));
        fc = register("fc", Linear.random(config.hidden() * (config.bidirectional() ? 2 : 1), config.numClasses(), true, rnd));
    }

    public Config config() {
        return config;
    }

    /** tokens [batch·seq] (row-major, every sequence of length seq) to logits [batch, classes]. */
    public Variable forward(int[] tokens, int batch, int seq) {
        if (tokens.length != batch * seq) throw new IllegalArgumentException(tokens.length + " tokens for " + batch + " sequences of " + seq);
        Variable e = ConvOps.reshape(embedding.get().forward(tokens), batch, seq, config.embed());
        Variable h = lstm.get().forward(e);
        int width = h.shape().dim(2);
        int[] all = new int[batch * seq];
        java.util.Arrays.fill(all, 1);
        return fc.get().forward(Ops.meanPool(ConvOps.reshape(h, batch * seq, width), batch, seq, all));
    }
}
