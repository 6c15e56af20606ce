package dev.lora4j.compress;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.autograd.Tape;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.TargetModules;
import java.nio.file.Path;
import java.util.Random;
import org.ejml.simple.SimpleMatrix;
import org.junit.jupiter.api.Test;

/** Truncated SVD, pruning and int8 on whole models: full rank changes nothing, rank k is Eckart–Young optimal. */
class ModelCompressionTest {
    static final Path LLAMA = Path.of("src/test/resources/fixtures/llama-tiny");
    static final int[] IDS = {5, 17, 42, 9, 30, 3, 11};

    static float[] logits(CausalLanguageModel m) {
        ((Module) m).train(false);
        try (var s = Tape.noGrad()) {
            return m.forward(IDS, 1, IDS.length, null).data().clone();
        }
    }

    @Test
    void fullRankReproducesTheModel() throws Exception {
        float[] base = logits(PretrainedModels.causalLm(LLAMA));
        CausalLanguageModel m = PretrainedModels.causalLm(LLAMA);
        var report = ModelCompression.compress((Module) m, new ModelCompression.Options(1 << 20, 0, ModelCompression.Quantization.NONE,
            new TargetModules.AllLinear()));
        assertArrayEquals(base, logits(m), "a rank no smaller than the matrix leaves it as it is");
        assertEquals(report.paramsBefore(), report.paramsAfter());
        // The SVD itself at full rank gives the matrix back.
        float[] w = new float[6 * 4];
        Random rnd = new Random(1);
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        float[] back = w.clone();
        ModelCompression.truncate(back, 6, 4, 4);
        assertArrayEquals(w, back, 1e-5f);
    }

    @Test
    void rankKIsTheBestApproximationAndCountsItsFactors() throws Exception {
        CausalLanguageModel m = PretrainedModels.causalLm(LLAMA);
        Linear q = (Linear) ((Module) m).get("model.layers.0.self_attn.q_proj");
        int rows = q.weight().shape().dim(0), cols = q.weight().shape().dim(1);
        SimpleMatrix w = new SimpleMatrix(rows, cols);
        for (int i = 0; i < rows * cols; i++) w.set(i / cols, i % cols, q.weight().data()[i]);
        // σ² from the Gram matrix's eigenvalues: another algorithm than the SVD under test.
        var eig = w.transpose().mult(w).eig();
        double[] sq = new double[eig.getNumberOfEigenvalues()];
        for (int i = 0; i < sq.length; i++) sq[i] = Math.max(0, eig.getEigenvalue(i).getReal());
        java.util.Arrays.sort(sq);
        double total = 0, tail = 0;
        for (int i = 0; i < sq.length; i++) {
            total += sq[i];
            if (i < sq.length - 2) tail += sq[i];
        }
        var report = ModelCompression.compress((Module) m, new ModelCompression.Options(2, 0, ModelCompression.Quantization.NONE,
            new TargetModules.Names(java.util.List.of("q_proj"))));
        ModelCompression.Layer l0 = report.layers().get(0);
        assertEquals("model.layers.0.self_attn.q_proj", l0.path());
        assertEquals(Math.sqrt(tail / total), l0.relativeError(), 1e-4, "Eckart–Young: the error is the dropped singular values");
        assertEquals(2L * (rows + cols + 1), l0.paramsAfter());
        assertEquals(4L * rows * cols, l0.bytesBefore());
    }

    @Test
    void pruningAndInt8DoWhatTheySay() throws Exception {
        CausalLanguageModel m = PretrainedModels.causalLm(LLAMA);
        Linear up = (Linear) ((Module) m).get("model.layers.0.mlp.up_proj");
        float[] original = up.weight().data().clone();
        int rows = up.weight().shape().dim(0), cols = up.weight().shape().dim(1);
        var report = ModelCompression.compress((Module) m, new ModelCompression.Options(0, 0.5, ModelCompression.Quantization.INT8,
            new TargetModules.Names(java.util.List.of("up_proj"))));
        float[] d = up.weight().data();
        int zeros = 0;
        for (float x : d) if (x == 0) zeros++;
        assertTrue(zeros >= d.length / 2, zeros + " zeros of " + d.length);
        for (int r = 0; r < rows; r++) {
            float max = 0;
            for (int x = 0; x < cols; x++) max = Math.max(max, Math.abs(original[r * cols + x]));
            for (int x = 0; x < cols; x++) {
                float v = d[r * cols + x], o = original[r * cols + x];
                if (v != 0) assertEquals(o, v, max / 127f / 2 + 1e-6f, "int8 rounds to the nearest step");
            }
        }
        var l = report.layers().get(0);
        assertEquals(d.length - zeros, l.paramsAfter());
        assertEquals(l.paramsAfter() + 4L * rows, l.bytesAfter(), "1 byte per kept entry plus a scale per row");
    }

    @Test
    void nf4StoresHalfAByteAWeightAndStaysWithinItsStep() throws Exception {
        CausalLanguageModel m = PretrainedModels.causalLm(LLAMA);
        Linear up = (Linear) ((Module) m).get("model.layers.0.mlp.up_proj");
        float[] original = up.weight().data().clone();
        var report = ModelCompression.compress((Module) m, new ModelCompression.Options(0, 0, ModelCompression.Quantization.NF4,
            new TargetModules.Names(java.util.List.of("up_proj"))));
        float[] d = up.weight().data();
        // Each value lands on one of 16 levels of its block's absmax: never further than the widest NF4 gap
        // (about 0.3 of the absmax, between -1 and -0.696), plus the double-quantized scale's error.
        for (int b = 0; b < d.length; b += 64) {
            float max = 0;
            for (int i = b; i < Math.min(d.length, b + 64); i++) max = Math.max(max, Math.abs(original[i]));
            for (int i = b; i < Math.min(d.length, b + 64); i++) assertEquals(original[i], d[i], 0.16f * max + 0.01f * max, "weight " + i);
        }
        var l = report.layers().get(0);
        assertEquals(dev.lora4j.kernel.Nf4Matrix.storageBytes(d.length), l.bytesAfter());
        assertTrue(l.bytesAfter() <= 0.52 * d.length + 8, l.bytesAfter() + " bytes for " + d.length + " weights");
        assertTrue(l.relativeError() > 0, "NF4 rounds");
    }
}
