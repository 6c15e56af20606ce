package dev.lora4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ModuleTest {
    static final int DIM = 4, VOCAB = 10, LABELS = 3;

    /** embeddings.{word_embeddings, norm}. */
    static final class Embeddings extends Module {
        final Slot<EmbeddingLayer> words;
        final Slot<LayerNorm> norm;

        Embeddings(RandomGenerator rnd) {
            words = register("word_embeddings", Embedding.random(VOCAB, DIM, rnd));
            norm = register("norm", LayerNorm.identity(DIM, 1e-5f));
        }
    }

    /** One block: dense (Linear with bias) then norm (RmsNorm). */
    static final class Layer extends Module {
        final Slot<LinearLayer> dense;
        final Slot<RmsNorm> norm;

        Layer(RandomGenerator rnd) {
            dense = register("dense", Linear.random(DIM, DIM, true, rnd));
            norm = register("norm", RmsNorm.identity(DIM, 1e-6f));
        }

        Variable forward(Variable x) {
            return norm.get().forward(dense.get().forward(x));
        }
    }

    /** Children named 0, 1, ... as torch.nn.ModuleList. */
    static final class Layers extends Module {
        final List<Slot<Layer>> items;

        Layers(RandomGenerator rnd, int n) {
            items = new java.util.ArrayList<>();
            for (int i = 0; i < n; i++) items.add(register(Integer.toString(i), new Layer(rnd)));
        }
    }

    static final class Encoder extends Module {
        final Slot<Layers> layer;

        Encoder(RandomGenerator rnd) {
            layer = register("layer", new Layers(rnd, 2));
        }
    }

    static final class Model extends Module {
        final Slot<Embeddings> embeddings;
        final Slot<Encoder> encoder;
        final Slot<LinearLayer> head;
        final Variable logitScale;

        Model(RandomGenerator rnd) {
            embeddings = register("embeddings", new Embeddings(rnd));
            encoder = register("encoder", new Encoder(rnd));
            head = register("head", Linear.random(DIM, LABELS, false, rnd));
            // Registered after the children, yet PyTorch lists a module's own parameters before its children's.
            logitScale = parameter("logit_scale", Variable.parameter(Init.constant(1f, 1)));
        }

        Variable forward(int[] ids) {
            Variable h = embeddings.get().norm.get().forward(embeddings.get().words.get().forward(ids));
            for (Slot<Layer> l : encoder.get().layer.get().items) h = l.get().forward(h);
            return head.get().forward(h);
        }
    }

    /** A LinearLayer wrapper, the way a LoRA layer wraps its base: y = base(x) · factor. */
    static final class ScaledLinear extends LinearLayer {
        final Slot<Linear> base;
        final float factor;

        ScaledLinear(Linear base, float factor) {
            this.base = register("base", base);
            this.factor = factor;
        }

        @Override
        public Variable forward(Variable x) {
            return Ops.scale(base.get().forward(x), factor);
        }

        @Override
        public int inFeatures() {
            return base.get().inFeatures();
        }

        @Override
        public int outFeatures() {
            return base.get().outFeatures();
        }
    }

    /** An EmbeddingLayer wrapper. */
    static final class WrappedEmbedding extends EmbeddingLayer {
        final Slot<EmbeddingLayer> inner;

        WrappedEmbedding(EmbeddingLayer inner) {
            this.inner = register("inner", inner);
        }

        @Override
        public Variable forward(int[] ids) {
            return inner.get().forward(ids);
        }

        @Override
        public int numEmbeddings() {
            return inner.get().numEmbeddings();
        }

        @Override
        public int embeddingDim() {
            return inner.get().embeddingDim();
        }
    }

    @AfterEach
    void tearDown() {
        Tape.current().clear();
    }

    private static Model model() {
        return new Model(new SplittableRandom(5));
    }

    @Test
    void namedParametersAreDottedAndInPyTorchOrder() {
        Model m = model();
        List<String> expected = List.of(
            "logit_scale",
            "embeddings.word_embeddings.weight",
            "embeddings.norm.weight",
            "embeddings.norm.bias",
            "encoder.layer.0.dense.weight",
            "encoder.layer.0.dense.bias",
            "encoder.layer.0.norm.weight",
            "encoder.layer.1.dense.weight",
            "encoder.layer.1.dense.bias",
            "encoder.layer.1.norm.weight",
            "head.weight");
        assertEquals(expected, List.copyOf(m.namedParameters().keySet()));
        Layer l1 = m.encoder.get().layer.get().items.get(1).get();
        assertSame(((Linear) l1.dense.get()).weight(), m.namedParameters().get("encoder.layer.1.dense.weight"));
        assertSame(m.logitScale, m.namedParameters().get("logit_scale"));
        assertEquals(Shape.of(VOCAB, DIM), m.namedParameters().get("embeddings.word_embeddings.weight").shape());
        assertEquals(Shape.of(LABELS, DIM), m.namedParameters().get("head.weight").shape());
        // Paths are relative to the module asked.
        assertEquals(List.of("0.dense.weight", "0.dense.bias", "0.norm.weight", "1.dense.weight", "1.dense.bias", "1.norm.weight"),
            List.copyOf(m.get("encoder.layer").namedParameters().keySet()));
    }

    @Test
    void namedModulesArePreorderWithTheRootUnderEmptyPath() {
        Model m = model();
        List<String> expected = List.of(
            "",
            "embeddings", "embeddings.word_embeddings", "embeddings.norm",
            "encoder", "encoder.layer",
            "encoder.layer.0", "encoder.layer.0.dense", "encoder.layer.0.norm",
            "encoder.layer.1", "encoder.layer.1.dense", "encoder.layer.1.norm",
            "head");
        assertEquals(expected, List.copyOf(m.namedModules().keySet()));
        assertSame(m, m.namedModules().get(""));
        assertEquals(List.of("embeddings", "encoder", "head"), List.copyOf(m.children().keySet()));
        assertEquals(List.of("logit_scale"), List.copyOf(m.localParameters().keySet()));
    }

    @Test
    void getFollowsDottedPaths() {
        Model m = model();
        assertSame(m, m.get(""));
        assertSame(m.encoder.get(), m.get("encoder"));
        Layer l0 = m.encoder.get().layer.get().items.get(0).get();
        assertSame(l0, m.get("encoder.layer.0"));
        assertSame(l0.dense.get(), m.get("encoder.layer.0.dense"));
        assertSame(m.embeddings.get().norm.get(), m.get("embeddings.norm"));
        assertTrue(m.get("encoder.layer.1.norm") instanceof RmsNorm);
        assertThrows(IllegalArgumentException.class, () -> m.get("encoder.layer.2"));
        assertThrows(IllegalArgumentException.class, () -> m.get("encoder.nope.dense"));
        assertThrows(IllegalArgumentException.class, () -> m.get("encoder.layer.0.dense.weight"), "a parameter is not a module");
    }

    @Test
    void replaceSwapsALinearForAWrapperAndTheForwardUsesIt() {
        Model m = model();
        int[] ids = {1, 4, 4, 9};
        float[] before;
        try (var _ = Tape.noGrad()) {
            before = m.forward(ids).data().clone();
        }
        Layer l1 = m.encoder.get().layer.get().items.get(1).get();
        Linear original = (Linear) l1.dense.get();
        ScaledLinear wrapper = new ScaledLinear(original, 2f);

        m.replace("encoder.layer.1.dense", wrapper);

        assertSame(wrapper, l1.dense.get(), "the parent's slot now holds the wrapper");
        assertSame(wrapper, m.get("encoder.layer.1.dense"));
        assertSame(original, m.get("encoder.layer.1.dense.base"));
        assertTrue(m.namedParameters().containsKey("encoder.layer.1.dense.base.weight"));
        assertFalse(m.namedParameters().containsKey("encoder.layer.1.dense.weight"));
        assertSame(original.weight(), m.namedParameters().get("encoder.layer.1.dense.base.weight"));

        // RmsNorm after the dense layer is scale invariant (up to eps), so compare the dense output itself.
        Variable x = Variable.constant(Tensor.of(new float[] {1, -2, 0.5f, 3}, 1, DIM));
        try (var _ = Tape.noGrad()) {
            float[] plain = original.forward(x).data();
            float[] wrapped = m.get("encoder.layer.1.dense") instanceof LinearLayer ll ? ll.forward(x).data() : null;
            assertNotNull(wrapped);
            for (int i = 0; i < DIM; i++) assertEquals(2 * plain[i], wrapped[i], 1e-6);
            // Swapping the head (no norm after it) changes the model's output: 3x the logits.
            m.replace("head", new ScaledLinear((Linear) m.head.get(), 3f));
            float[] after = m.forward(ids).data();
            for (int i = 0; i < before.length; i++) assertEquals(3 * before[i], after[i], 1e-4 * (1 + Math.abs(before[i])));
        }

        // An embedding slot takes an EmbeddingLayer wrapper.
        EmbeddingLayer emb = m.embeddings.get().words.get();
        m.replace("embeddings.word_embeddings", new WrappedEmbedding(emb));
        assertTrue(m.namedParameters().containsKey("embeddings.word_embeddings.inner.weight"));
    }

    @Test
    void replaceRejectsTheWrongKind() {
        Model m = model();
        Module dense = m.get("encoder.layer.0.dense");
        assertThrows(IllegalArgumentException.class, () -> m.replace("encoder.layer.0.dense", RmsNorm.identity(DIM, 1e-6f)));
        assertThrows(IllegalArgumentException.class, () -> m.replace("encoder.layer.0.dense", Embedding.random(3, DIM, new SplittableRandom(1))));
        assertThrows(IllegalArgumentException.class, () -> m.replace("embeddings.word_embeddings", Linear.random(DIM, DIM, false, new SplittableRandom(1))));
        assertThrows(IllegalArgumentException.class, () -> m.replace("embeddings.norm", RmsNorm.identity(DIM, 1e-6f)), "a LayerNorm slot takes only a LayerNorm");
        assertThrows(IllegalArgumentException.class, () -> m.replace("encoder.layer.0", new Layers(new SplittableRandom(1), 1)));
        assertThrows(IllegalArgumentException.class, () -> m.replace("encoder.layer.0.nope", Linear.random(DIM, DIM, false, new SplittableRandom(1))));
        assertSame(dense, m.get("encoder.layer.0.dense"), "a rejected replacement leaves the original in place");
        // Same kind is fine: a LayerNorm for a LayerNorm, a Linear for a Linear.
        LayerNorm ln = LayerNorm.identity(DIM, 1e-5f);
        m.replace("embeddings.norm", ln);
        assertSame(ln, m.get("embeddings.norm"));
        Linear fresh = Linear.random(DIM, DIM, true, new SplittableRandom(2));
        m.replace("encoder.layer.0.dense", fresh);
        assertSame(fresh, m.get("encoder.layer.0.dense"));
    }

    @Test
    void setTrainableFreezesAndUnfreezesTheSubtree() {
        Model m = model();
        Variable loss = Ops.crossEntropy(m.forward(new int[] {1, 2, 3}), new int[] {0, 1, 2}, -100);
        Tape.current().backward(loss);
        Variable headW = m.namedParameters().get("head.weight");
        assertNotNull(headW.grad());

        m.get("encoder").setTrainable(false);
        for (var e : m.namedParameters().entrySet()) {
            assertEquals(!e.getKey().startsWith("encoder."), e.getValue().requiresGrad(), e.getKey());
        }
        m.setTrainable(false);
        for (var e : m.namedParameters().entrySet()) {
            assertFalse(e.getValue().requiresGrad(), e.getKey());
            assertNull(e.getValue().grad(), "freezing drops the gradient of " + e.getKey());
        }
        // Nothing is trainable: the forward records nothing.
        int size = Tape.current().size();
        assertFalse(m.forward(new int[] {1, 2}).requiresGrad());
        assertEquals(size, Tape.current().size());

        m.setTrainable(true);
        for (var e : m.namedParameters().entrySet()) assertTrue(e.getValue().requiresGrad(), e.getKey());
    }

    @Test
    void trainModeAppliesToTheSubtree() {
        Model m = model();
        for (Module sub : m.namedModules().values()) assertTrue(sub.training());
        m.train(false);
        for (var e : m.namedModules().entrySet()) assertFalse(e.getValue().training(), e.getKey());
        m.get("encoder").train(true);
        for (var e : m.namedModules().entrySet()) {
            assertEquals(e.getKey().startsWith("encoder"), e.getValue().training(), e.getKey());
        }
    }

    @Test
    void parameterCountSumsAllElements() {
        Model m = model();
        long expected = 1                       // logit_scale
            + VOCAB * DIM + DIM + DIM           // word embeddings, LayerNorm weight and bias
            + 2 * (DIM * DIM + DIM + DIM)       // two layers: dense weight, bias, RmsNorm weight
            + LABELS * DIM;                     // head, no bias
        assertEquals(109, expected);
        assertEquals(expected, m.parameterCount());
        assertEquals(DIM * DIM + DIM + DIM, m.get("encoder.layer.0").parameterCount());
    }

    @Test
    void registrationRejectsBadAndDuplicateNames() {
        class Dup extends Module {
            Dup(String a, String b) {
                register(a, RmsNorm.identity(2, 1e-6f));
                parameter(b, Variable.parameter(Tensor.zeros(2)));
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new Dup("x", "x"));
        assertThrows(IllegalArgumentException.class, () -> new Dup("a.b", "c"));
        assertThrows(IllegalArgumentException.class, () -> new Dup("", "c"));
        assertThrows(IllegalArgumentException.class, () -> new Dup("a", "c.d"));
        assertEquals(List.of("b", "a.weight"), List.copyOf(new Dup("a", "b").namedParameters().keySet()));
    }

    @Test
    void parameterMapsAreReadOnly() {
        Model m = model();
        assertThrows(UnsupportedOperationException.class, () -> m.localParameters().put("x", m.logitScale));
        assertThrows(UnsupportedOperationException.class, () -> m.children().remove("head"));
    }

    // ---- initialisation ------------------------------------------------------------------------------------

    @Test
    void kaimingUniformBoundIsOneOverSqrtFanIn() {
        for (int in : new int[] {3, 16, 50, 768}) {
            int out = Math.max(4, 4000 / in);
            Tensor w = Init.kaimingUniform(new SplittableRandom(in), out, in);
            assertEquals(Shape.of(out, in), w.shape());
            double bound = 1 / Math.sqrt(in);
            double max = 0, sum = 0, sumSq = 0;
            for (float v : w.data()) {
                assertTrue(Math.abs(v) <= bound * (1 + 1e-6), "sample " + v + " outside ±" + bound + " for in=" + in);
                max = Math.max(max, Math.abs(v));
                sum += v;
                sumSq += (double) v * v;
            }
            int n = w.size();
            assertTrue(max >= 0.99 * bound, "max |w| " + max + " should approach the bound " + bound + " (in=" + in + ")");
            // U(-b, b): mean 0, variance b²/3.
            double mean = sum / n, var = sumSq / n - mean * mean;
            assertEquals(0, mean, 5 * bound / Math.sqrt(3 * n), "mean, in=" + in);
            assertEquals(bound * bound / 3, var, 0.1 * bound * bound / 3, "variance, in=" + in);
        }
    }

    @Test
    void linearRandomMatchesPyTorchDefaultBounds() {
        // torch.nn.Linear: weight kaiming_uniform(a=√5) = U(±1/√in); bias U(±1/√fan_in) with fan_in = in.
        int in = 20, out = 300;
        Linear l = Linear.random(in, out, true, new SplittableRandom(11));
        assertEquals(in, l.inFeatures());
        assertEquals(out, l.outFeatures());
        assertEquals(Shape.of(out, in), l.weight().shape());
        assertEquals(Shape.of(out), l.bias().shape());
        assertTrue(l.weight().requiresGrad() && l.bias().requiresGrad());
        double bound = 1 / Math.sqrt(in);
        for (Variable p : new Variable[] {l.weight(), l.bias()}) {
            double max = 0;
            for (float v : p.data()) {
                assertTrue(Math.abs(v) <= bound * (1 + 1e-6), v + " outside ±" + bound);
                max = Math.max(max, Math.abs(v));
            }
            assertTrue(max >= 0.97 * bound, "max " + max + " should approach " + bound + " for " + p.shape());
        }
        assertNull(Linear.random(in, out, false, new SplittableRandom(11)).bias());
        // Reproducible from the generator's seed, different for another seed.
        assertEquals(l.weight().data()[17], Linear.random(in, out, true, new SplittableRandom(11)).weight().data()[17]);
        assertFalse(l.weight().data()[17] == Linear.random(in, out, true, new SplittableRandom(12)).weight().data()[17]);
    }

    @Test
    void embeddingRandomIsStandardNormalAndIdentityNormsAreIdentity() {
        Embedding e = Embedding.random(100, 40, new Random(3));
        double sum = 0, sumSq = 0;
        for (float v : e.weight().data()) {
            sum += v;
            sumSq += (double) v * v;
        }
        int n = e.weight().size();
        assertEquals(0, sum / n, 0.1);
        assertEquals(1, sumSq / n, 0.1);
        assertEquals(100, e.numEmbeddings());
        assertEquals(40, e.embeddingDim());

        LayerNorm ln = LayerNorm.identity(5, 1e-5f);
        RmsNorm rms = RmsNorm.identity(5, 1e-6f);
        for (int i = 0; i < 5; i++) {
            assertEquals(1f, ln.weight().data()[i]);
            assertEquals(0f, ln.bias().data()[i]);
            assertEquals(1f, rms.weight().data()[i]);
        }
    }
}
