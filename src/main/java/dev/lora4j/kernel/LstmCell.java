package dev.lora4j.kernel;

/**
 * The pointwise part of an LSTM step in torch.nn.LSTM's gate order (i, f, g, o stacked in 4·hidden columns):
 * i, f, o = σ(·), g = tanh(·), c = f·c_prev + i·g, h = o·tanh(c). The matrix products around it are GEMMs.
 */
public final class LstmCell {
    private LstmCell() {}

    /**
     * gates [batch, 4h] pre-activations in, activations out (in place); writes c and tanh(c) [batch, h] and h
     * into {@code hOut} at row stride {@code hStride}. {@code cPrev} null means zero state.
     */
    public static void forward(float[] gates, float[] cPrev, float[] c, float[] tanhC, float[] hOut, int hOff, int hStride,
                               int batch, int hidden) {
        for (int b = 0; b < batch; b++) {
            int g0 = b * 4 * hidden, s0 = b * hidden;
            for (int j = 0; j < hidden; j++) {
                float i = sigmoid(gates[g0 + j]);
                float f = sigmoid(gates[g0 + hidden + j]);
                float g = (float) Math.tanh(gates[g0 + 2 * hidden + j]);
                float o = sigmoid(gates[g0 + 3 * hidden + j]);
                gates[g0 + j] = i;
                gates[g0 + hidden + j] = f;
                gates[g0 + 2 * hidden + j] = g;
                gates[g0 + 3 * hidden + j] = o;
                float cv = (cPrev == null ? 0f : f * cPrev[s0 + j]) + i * g;
                float tc = (float) Math.tanh(cv);
                c[s0 + j] = cv;
                tanhC[s0 + j] = tc;
                hOut[hOff + b * hStride + j] = o * tc;
            }
        }
    }

    /**
     * One step back: from dh [batch, h] (the output's gradient plus the next step's recurrent one) and dc
     * (the next step's cell gradient, updated in place to this step's contribution to c_prev), writes the
     * pre-activation gradients dGates [batch, 4h].
     */
    public static void backward(float[] acts, float[] cPrev, float[] tanhC, float[] dh, float[] dc, float[] dGates,
                                int batch, int hidden) {
        for (int b = 0; b < batch; b++) {
            int g0 = b * 4 * hidden, s0 = b * hidden;
            for (int j = 0; j < hidden; j++) {
                float i = acts[g0 + j], f = acts[g0 + hidden + j], g = acts[g0 + 2 * hidden + j], o = acts[g0 + 3 * hidden + j];
                float tc = tanhC[s0 + j];
                float dhv = dh[s0 + j];
                float dcv = dc[s0 + j] + dhv * o * (1 - tc * tc);
                float cp = cPrev == null ? 0f : cPrev[s0 + j];
                dGates[g0 + j] = dcv * g * i * (1 - i);
                dGates[g0 + hidden + j] = dcv * cp * f * (1 - f);
                dGates[g0 + 2 * hidden + j] = dcv * i * (1 - g * g);
                dGates[g0 + 3 * hidden + j] = dhv * tc * o * (1 - o);
                dc[s0 + j] = dcv * f;
            }
        }
    }

    private static float sigmoid(float x) {
        return (float) (1 / (1 + Math.exp(-x)));
    }
}
