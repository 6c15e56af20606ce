package dev.lora4j.autograd;

import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.LstmCell;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;

/**
 * The recurrent part of an LSTM layer (one direction) as one differentiable op with backpropagation through
 * time. The input projection x·W_ihᵀ + b_ih for all time steps is an ordinary {@link Ops#linear} done
 * before (one GEMM instead of one per step); this op runs the recurrence h_t = cell(gx_t + h_{t−1}·W_hhᵀ + b_hh)
 * from zero initial states, and keeps the gate activations and cell states for the backward.
 */
public final class LstmOps {
    private LstmOps() {}

    /**
     * @param gx      [batch, seq, 4·hidden]: the input projection, gates in torch's order i, f, g, o
     * @param wHh     [4·hidden, hidden]
     * @param bHh     [4·hidden] or null
     * @param reverse run from the last time step to the first (the backward direction of a bidirectional LSTM)
     * @return the hidden states [batch, seq, hidden], h_t at position t in either direction
     */
    public static Variable recurrence(Variable gx, Variable wHh, Variable bHh, int batch, int seq, boolean reverse) {
        int g4 = gx.shape().cols();
        if (g4 % 4 != 0 || gx.size() != batch * seq * g4) {
            throw new IllegalArgumentException("lstm: gate input " + gx.shape() + " is not [" + batch + ", " + seq + ", 4·hidden]");
        }
        int hidden = g4 / 4;
        if (!wHh.shape().equals(Shape.of(g4, hidden))) throw new IllegalArgumentException("lstm: weight_hh " + wHh.shape() + ", expected [" + g4 + ", " + hidden + "]");
        if (bHh != null && bHh.size() != g4) throw new IllegalArgumentException("lstm: bias_hh " + bHh.shape() + ", expected [" + g4 + "]");
        boolean grad = Tape.current().recording() && (gx.requiresGrad() || wHh.requiresGrad() || (bHh != null && bHh.requiresGrad()));
        Variable y = new Variable(new Tensor(Shape.of(batch, seq, hidden), new float[batch * seq * hidden]), grad);
        float[] h = y.data(), w = wHh.data();
        int hStride = seq * hidden;
        float[][] acts = new float[seq][], cells = new float[seq][], tanhC = new float[seq][];
        for (int step = 0; step < seq; step++) {
            int t = reverse ? seq - 1 - step : step, prev = reverse ? t + 1 : t - 1;
            float[] gates = new float[batch * g4];
            for (int b = 0; b < batch; b++) {
                System.arraycopy(gx.data(), (b * seq + t) * g4, gates, b * g4, g4);
                if (bHh != null) VectorMath.axpy(1f, bHh.data(), 0, gates, b * g4, g4);
            }
            // h_{t−1}·W_hhᵀ read straight from the output rows of the previous step (row stride seq·hidden).
            if (step > 0) Gemm.nt(batch, g4, hidden, h, prev * hidden, hStride, w, 0, hidden, gates, 0, g4, true);
            cells[t] = new float[batch * hidden];
            tanhC[t] = new float[batch * hidden];
            LstmCell.forward(gates, step > 0 ? cells[prev] : null, cells[t], tanhC[t], h, t * hidden, hStride, batch, hidden);
            acts[t] = gates;
        }
        if (grad) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                float[] dh = new float[batch * hidden], dc = new float[batch * hidden], dGates = new float[batch * g4];
                float[] dRecurrent = new float[batch * hidden];
                float[] dgx = gx.requiresGrad() ? gx.gradForAccumulation() : null;
                float[] dw = wHh.requiresGrad() ? wHh.gradForAccumulation() : null;
                float[] db = bHh != null && bHh.requiresGrad() ? bHh.gradForAccumulation() : null;
                for (int step = seq - 1; step >= 0; step--) {
                    int t = reverse ? seq - 1 - step : step, prev = reverse ? t + 1 : t - 1;
                    for (int b = 0; b < batch; b++) {
                        for (int j = 0; j < hidden; j++) dh[b * hidden + j] = dy[(b * seq + t) * hidden + j] + dRecurrent[b * hidden + j];
                    }
                    LstmCell.backward(acts[t], step > 0 ? cells[prev] : null, tanhC[t], dh, dc, dGates, batch, hidden);
                    if (dgx != null) for (int b = 0; b < batch; b++) VectorMath.axpy(1f, dGates, b * g4, dgx, (b * seq + t) * g4, g4);
                    if (db != null) for (int b = 0; b < batch; b++) VectorMath.axpy(1f, dGates, b * g4, db, 0, g4);
                    if (step > 0) {
                        if (dw != null) Gemm.tn(g4, hidden, batch, dGates, 0, g4, h, prev * hidden, hStride, dw, 0, hidden, true);
                        Gemm.nn(batch, hidden, g4, dGates, w, dRecurrent, false);
                    }
                }
            });
        }
        return y;
    }

    /** [rows, a] and [rows, b] side by side: [rows, a + b] (a bidirectional LSTM's two directions). */
    public static Variable concatColumns(Variable left, Variable right) {
        int rows = left.shape().rows(), a = left.shape().cols(), b = right.shape().cols();
        if (right.shape().rows() != rows) throw new IllegalArgumentException("concatColumns: " + left.shape() + " and " + right.shape() + " differ in rows");
        int[] dims = left.shape().dims();
        dims[dims.length - 1] = a + b;
        boolean grad = Tape.current().recording() && (left.requiresGrad() || right.requiresGrad());
        Variable y = new Variable(new Tensor(Shape.of(dims), new float[rows * (a + b)]), grad);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(left.data(), r * a, y.data(), r * (a + b), a);
            System.arraycopy(right.data(), r * b, y.data(), r * (a + b) + a, b);
        }
        if (grad) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                for (int r = 0; r < rows; r++) {
                    if (left.requiresGrad()) VectorMath.axpy(1f, dy, r * (a + b), left.gradForAccumulation(), r * a, a);
                    if (right.requiresGrad()) VectorMath.axpy(1f, dy, r * (a + b) + a, right.gradForAccumulation(), r * b, b);
                }
            });
        }
        return y;
    }
}
