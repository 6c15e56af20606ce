package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Embedding;
import dev.lora4j.nn.EmbeddingLayer;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import java.util.random.RandomGenerator;

/** A small test model with HF-like names: embed -> encoder.fc1 -> gelu -> encoder.fc2 -> lm_head. */
final class TinyNet extends Module {
    static final class Encoder extends Module {
        final Slot<LinearLayer> fc1, fc2;

        Encoder(int dim, int hidden, RandomGenerator rnd) {
            fc1 = register("fc1", Linear.random(dim, hidden, true, rnd));
            fc2 = register("fc2", Linear.random(hidden, dim, true, rnd));
        }

        Variable forward(Variable x) {
            return fc2.get().forward(Ops.gelu(fc1.get().forward(x)));
        }
    }

    final Slot<EmbeddingLayer> embed;
    final Slot<Encoder> encoder;
    final Slot<LinearLayer> head;

    TinyNet(int vocab, int dim, int hidden, int out, RandomGenerator rnd) {
        embed = register("embed", Embedding.random(vocab, dim, rnd));
        encoder = register("encoder", new Encoder(dim, hidden, rnd));
        head = register("lm_head", Linear.random(dim, out, false, rnd));
    }

    Variable forward(int[] ids) {
        return head.get().forward(encoder.get().forward(embed.get().forward(ids)));
    }
}
