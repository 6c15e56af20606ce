package dev.lora4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.kernel.Conv2dShape;
import dev.lora4j.nn.BatchNorm2d;
import dev.lora4j.nn.Lstm;
import dev.lora4j.nn.conv.Conv1d;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Forward (and some backward) results against PyTorch, from tools/make_conv_lstm_fixtures.py. */
class ConvLstmFixtureTest {
    static final Path DIR = Path.of("src/test/resources/fixtures/conv-lstm");

    static Map<String, Tensor> load(String name) throws Exception {
        Map<String, Tensor> m = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(DIR.resolve(name + ".safetensors"))) {
            for (String k : f.names()) m.put(k, f.tensor(k).copy());
        }
        return m;
    }

    static void close(String what, Tensor expected, float[] actual, float tol) {
        assertEquals(expected.size(), actual.length, what + " size");
        for (int i = 0; i < actual.length; i++) {
            assertEquals(expected.data()[i], actual[i], tol * (1 + Math.abs(expected.data()[i])), what + " at " + i);
        }
    }

    void conv2dCase(String name, boolean bias) throws Exception {
        Map<String, Tensor> t = load(name);
        Variable x = Variable.parameter(t.get("x")), w = Variable.parameter(t.get("weight"));
        Variable b = bias ? Variable.parameter(t.get("bias")) : null;
        float[] g = t.get("geometry").data();
        int[] k = w.shape().dims();
        Conv2dShape s = ConvOps.geometry(x, k[2], k[3], new int[] {(int) g[0], (int) g[1]}, new int[] {(int) g[2], (int) g[3]},
            new int[] {(int) g[4], (int) g[5]});
        Variable y = ConvOps.conv2d(x, w, b, s);
        assertArrayEquals(t.get("y").shape().dims(), y.shape().dims());
        close(name + " y", t.get("y"), y.data(), 1e-5f);
        Tape.current().backward(Ops.dot(y, t.get("probe").data()));
        close(name + " dx", t.get("grad_x"), x.grad(), 1e-5f);
        close(name + " dw", t.get("grad_weight"), w.grad(), 1e-5f);
        if (bias) close(name + " db", t.get("grad_bias"), b.grad(), 1e-5f);
    }

    @Test
    void conv2dStridedPaddedDilatedMatchesTorch() throws Exception {
        conv2dCase("conv2d_strided", true);
    }

    @Test
    void conv2dDilatedWithoutBiasMatchesTorch() throws Exception {
        conv2dCase("conv2d_dilated", false);
    }

    @Test
    void conv1dMatchesTorch() throws Exception {
        Map<String, Tensor> t = load("conv1d");
        Conv1d conv = Conv1d.of(t.get("weight"), t.get("bias"), 2, 1, 2);
        try (var s = Tape.noGrad()) {
            Variable y = conv.forward(Variable.constant(t.get("x")));
            assertArrayEquals(t.get("y").shape().dims(), y.shape().dims());
            close("conv1d", t.get("y"), y.data(), 1e-5f);
        }
    }

    @Test
    void poolingMatchesTorch() throws Exception {
        Map<String, Tensor> t = load("pooling");
        Variable x = Variable.constant(t.get("x"));
        try (var s = Tape.noGrad()) {
            Variable max = ConvOps.maxPool2d(x, ConvOps.geometry(x, 3, 3, new int[] {2, 2}, new int[] {1, 1}, new int[] {1, 1}));
            assertArrayEquals(t.get("max_k3_s2_p1").shape().dims(), max.shape().dims());
            close("max", t.get("max_k3_s2_p1"), max.data(), 0f);
            Variable avg = ConvOps.avgPool2d(x, ConvOps.geometry(x, 2, 2, new int[] {2, 2}, new int[] {1, 1}, new int[] {1, 1}));
            assertArrayEquals(t.get("avg_k2_s2_p1").shape().dims(), avg.shape().dims());
            close("avg", t.get("avg_k2_s2_p1"), avg.data(), 1e-6f);
        }
    }

    @Test
    void batchNormTrainingUpdatesRunningStatsLikeTorch() throws Exception {
        Map<String, Tensor> t = load("batchnorm");
        BatchNorm2d bn = new BatchNorm2d(Variable.parameter(t.get("weight")), Variable.parameter(t.get("bias")),
            t.get("running_mean_before").data().clone(), t.get("running_var_before").data().clone(), 0.1f, 1e-5f);
        Variable x = Variable.constant(t.get("x"));
        bn.train(true);
        close("y_train", t.get("y_train"), bn.forward(x).data(), 1e-5f);
        close("running_mean", t.get("running_mean_after"), bn.buffers().get("running_mean").data(), 1e-6f);
        close("running_var", t.get("running_var_after"), bn.buffers().get("running_var").data(), 1e-6f);
        assertEquals(1f, bn.buffers().get("num_batches_tracked").data()[0]);
        bn.train(false);
        close("y_eval", t.get("y_eval"), bn.forward(x).data(), 1e-5f);
    }

    @Test
    void bidirectionalTwoLayerLstmMatchesTorch() throws Exception {
        Map<String, Tensor> t = load("lstm");
        Map<String, Tensor> params = new LinkedHashMap<>();
        t.forEach((k, v) -> { if (k.startsWith("lstm.")) params.put(k.substring(5), v); });
        Lstm lstm = Lstm.of(5, 4, 2, true, params);
        Variable x = Variable.parameter(t.get("x"));
        Variable y = lstm.forward(x);
        assertArrayEquals(t.get("y").shape().dims(), y.shape().dims());
        close("lstm y", t.get("y"), y.data(), 1e-5f);
        Tape.current().backward(Ops.dot(y, t.get("probe").data()));
        close("lstm dx", t.get("grad_x"), x.grad(), 1e-5f);
        for (String p : new String[] {"weight_hh_l0", "weight_ih_l1_reverse", "bias_hh_l1"}) {
            close("lstm d" + p, t.get("grad_" + p), lstm.parameter(p).grad(), 1e-5f);
        }
    }
}
