package dev.lora4j.model;

import dev.lora4j.nn.Init;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Where a model's constructor gets its parameters, by Hugging Face name and expected shape: from a loaded
 * checkpoint (a missing name or a wrong shape is an error naming the tensor) or random (benchmarks, tests).
 */
public interface Weights {
    Tensor get(String name, int... shape);

    /** True when the source has this tensor (optional weights such as a pooler). */
    boolean has(String name);

    /** Tensors from a checkpoint; {@link #unused()} lists what no module asked for. */
    static Checkpoint of(Map<String, Tensor> tensors, String source) {
        return new Checkpoint(tensors, source);
    }

    /** Normal(0, std) weights, ones for LayerNorm/RMSNorm weights, zeros for biases, from a fixed seed. */
    static Weights random(long seed, float std) {
        SplittableRandom rnd = new SplittableRandom(seed);
        return new Weights() {
            @Override
            public Tensor get(String name, int... shape) {
                boolean norm = name.contains("LayerNorm") || name.contains("layernorm") || name.contains("norm.") || name.endsWith("_norm.weight") || name.startsWith("ln_") || name.contains(".ln_");
                if (name.endsWith(".bias") || name.endsWith("_bias")) return Tensor.zeros(shape);
                if (norm && name.endsWith("weight")) return Init.constant(1f, shape);
                return Init.normal(rnd, std, shape);
            }

            @Override
            public boolean has(String name) {
                return true;
            }
        };
    }

    /** This source where it has a tensor, {@code fallback} (e.g. random init of a new head) where not. */
    default Weights orElse(Weights fallback) {
        Weights primary = this;
        return new Weights() {
            @Override
            public Tensor get(String name, int... shape) {
                return primary.has(name) ? primary.get(name, shape) : fallback.get(name, shape);
            }

            @Override
            public boolean has(String name) {
                return primary.has(name) || fallback.has(name);
            }
        };
    }

    /** Weights read from a file or directory; checks every requested name and shape. */
    final class Checkpoint implements Weights {
        private final Map<String, Tensor> tensors;
        private final String source;
        private final Set<String> unused;

        Checkpoint(Map<String, Tensor> tensors, String source) {
            this.tensors = tensors;
            this.source = source;
            this.unused = new LinkedHashSet<>(tensors.keySet());
        }

        @Override
        public Tensor get(String name, int... shape) {
            Tensor t = tensors.get(name);
            if (t == null) throw new IllegalArgumentException(source + ": missing weight '" + name + "' " + Shape.of(shape));
            if (!t.shape().equals(Shape.of(shape))) {
                throw new IllegalArgumentException(source + ": weight '" + name + "' has shape " + t.shape() + ", expected " + Shape.of(shape));
            }
            unused.remove(name);
            return t;
        }

        @Override
        public boolean has(String name) {
            return tensors.containsKey(name);
        }

        /** Names present in the checkpoint that no module used. */
        public Set<String> unused() {
            return Set.copyOf(unused);
        }
    }
}
