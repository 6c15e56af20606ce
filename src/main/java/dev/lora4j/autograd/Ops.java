package dev.lora4j.autograd;

import dev.lora4j.kernel.Activations;
import dev.lora4j.kernel.Attention;
import dev.lora4j.kernel.CrossEntropy;
import dev.lora4j.kernel.Dropout;
import dev.lora4j.kernel.EmbeddingKernel;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.LayerNormKernel;
import dev.lora4j.kernel.Pooling;
import dev.lora4j.kernel.QuantizedMatrix;
import dev.lora4j.kernel.RmsNormKernel;
import dev.lora4j.kernel.Rope;
import dev.lora4j.kernel.SegmentFormat;
import dev.lora4j.kernel.Softmax;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;

/**
 * The differentiable operations, each written as its forward and, right below it, its backward. Every op
 * treats its input as a [rows, cols] matrix (leading dimensions flattened), computes the forward with a
 * kernel, and records a backward step only when some input requires a gradient. A backward step adds into
 * the gradients of exactly those inputs that require one: a frozen weight gets no weight gradient.
 */
public final class Ops {
    private Ops() {}

    // ---- plumbing -------------------------------------------------------------------------------------

    private static boolean needsGrad(Variable... inputs) {
        if (!Tape.current().recording()) return false;
        for (Variable v : inputs) if (v != null && v.requiresGrad()) return true;
        return false;
    }

    private static Variable output(Shape shape, boolean requiresGrad) {
        return Variable.pooledOutput(shape, requiresGrad);
    }

    private static Shape withLastDim(Shape s, int last) {
        int[] d = s.dims();
        d[d.length - 1] = last;
        return Shape.of(d);
    }

    private static void requireSameShape(String op, Variable a, Variable b) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": shapes differ, " + a.shape() + " vs " + b.shape());
        }
    }

    /**
     * Whether W is read in place from its mapped checkpoint: as long as nothing has written to it (a write, by an
     * optimizer or a merge, widens it onto the heap first, after which the heap copy is the weight).
     */
    private static boolean readInPlace(Variable w) {
        return w.value().isMapped() && w.value().segment() != null;
    }

    private static SegmentFormat format(Tensor t) {
        return switch (t.mappedType()) {
            case F32 -> SegmentFormat.F32;
            case BF16 -> SegmentFormat.BF16;
            case F16 -> SegmentFormat.F16;
        };
    }

    /** C (+)= A·Wᵀ for W [N, K], from the heap, in place from a mapped checkpoint, or decoded from a quantized weight. */
    private static void timesTransposed(int m, int n, int k, float[] a, Variable w, float[] c, boolean accumulate) {
        QuantizedMatrix q = w.value().quantized();
        if (q != null) Gemm.nt(m, n, k, a, q, c, accumulate);
        else if (readInPlace(w)) Gemm.nt(m, n, k, a, w.value().segment(), format(w.value()), c, accumulate);
        else Gemm.nt(m, n, k, a, w.data(), c, accumulate);
    }

    /** C (+)= A·W for W [K, N], from the heap, in place from a mapped checkpoint, or decoded from a quantized weight. */
    private static void times(int m, int n, int k, float[] a, Variable w, float[] c, boolean accumulate) {
        QuantizedMatrix q = w.value().quantized();
        if (q != null) Gemm.nn(m, n, k, a, q, c, accumulate);
        else if (readInPlace(w)) Gemm.nn(m, n, k, a, w.value().segment(), format(w.value()), c, accumulate);
        else Gemm.nn(m, n, k, a, w.data(), c, accumulate);
    }

    // ---- linear algebra -------------------------------------------------------------------------------

    /**
     * y = x·Wᵀ (+ b): x [..., in], W [out, in] (PyTorch's layout), b [out] or null.
     * Backward: dx += dy·W; dW += dyᵀ·x and db += Σ dy only when they require a gradient.
     */
    public static Variable linear(Variable x, Variable w, Variable b) {
        return affine("linear", x, w, b, false);
    }

    /**
     * y = x·W (+ b) with W stored [in, out]: transformers' Conv1D (GPT-2), Peft's fan_in_fan_out layout.
     * x [..., in], W [in, out], b [out] or null. Backward: dx += dy·Wᵀ; dW += xᵀ·dy and db += Σ dy only when
     * they require a gradient. No transpose is materialised: the three products are Gemm's nn, nt and tn.
     */
    public static Variable linearInOut(Variable x, Variable w, Variable b) {
        return affine("linearInOut", x, w, b, true);
    }

    /**
     * y = x·W' + b where W' is W [out, in] transposed, or W [in, out] as stored ({@code inOut}): the two layouts
     * differ only in which GEMM layouts forward and backward call. A linear is a LoRA linear without branches.
     */
    private static Variable affine(String op, Variable x, Variable w, Variable b, boolean inOut) {
        return loraAffine(op, x, w, b, inOut, java.util.List.of());
    }

    /**
     * One LoRA branch of a {@link #loraLinear}: adapter weights A [r, in] and B [out, r], the factor scaling, and
     * the branch's input (x itself, or dropout(x)).
     */
    public record LoraBranch(Variable input, Variable a, Variable b, float scaling) {}

    /**
     * A LoRA linear in one op: y = x·Wᵀ + b + Σ scaling·(input·Aᵀ)·Bᵀ over the branches, W [out, in] (or [in, out]
     * with {@code inOut}, Conv1D / fan_in_fan_out). Against composing linear, linear, linear and addScaled it keeps
     * one [tokens, out] output instead of four and saves h = scaling·input·Aᵀ [tokens, r], which is all that B's
     * gradient needs. Backward: dy reaches x through W (when x needs it) and, per branch, dh = scaling·dy·B,
     * dB += dyᵀ·h, dA += dhᵀ·input, dinput += dh·A; a frozen W gets no weight gradient.
     */
    public static Variable loraLinear(Variable x, Variable w, Variable b, boolean inOut, java.util.List<LoraBranch> branches) {
        return loraAffine("loraLinear", x, w, b, inOut, branches);
    }

    private static Variable loraAffine(String op, Variable x, Variable w, Variable b, boolean inOut, java.util.List<LoraBranch> branches) {
        int in = x.shape().cols(), rows = x.shape().rows();
        if (w.shape().rank() != 2 || w.shape().dim(inOut ? 0 : 1) != in) {
            throw new IllegalArgumentException(op + ": weight " + w.shape() + (inOut ? " ([in, out])" : " ([out, in])")
                + " does not take inputs of width " + in);
        }
        int out = w.shape().dim(inOut ? 1 : 0);
        if (b != null && b.size() != out) throw new IllegalArgumentException(op + ": bias " + b.shape() + " for " + out + " outputs");
        boolean grad = needsGrad(x, w, b);
        for (LoraBranch br : branches) {
            int r = br.a().shape().dim(0);
            if (br.a().shape().rank() != 2 || br.a().shape().dim(1) != in || !br.b().shape().equals(Shape.of(out, r))) {
                throw new IllegalArgumentException(op + ": LoRA A " + br.a().shape() + " and B " + br.b().shape() + " do not fit "
                    + in + " inputs and " + out + " outputs (A [r, in], B [out, r])");
            }
            if (!br.input().shape().equals(x.shape())) throw new IllegalArgumentException(op + ": LoRA input " + br.input().shape() + " vs x " + x.shape());
            grad |= needsGrad(br.input(), br.a(), br.b());
        }
        Variable y = output(withLastDim(x.shape(), out), grad);
        if (inOut) times(rows, out, in, x.data(), w, y.data(), false);
        else timesTransposed(rows, out, in, x.data(), w, y.data(), false);
        if (b != null) {
            float[] yd = y.data(), bd = b.data();
            for (int r = 0; r < rows; r++) VectorMath.axpy(1f, bd, 0, yd, r * out, out);
        }
        float[][] hs = new float[branches.size()][];
        for (int i = 0; i < branches.size(); i++) {
            LoraBranch br = branches.get(i);
            int r = br.a().shape().dim(0);
            float[] h = Tape.current().allocate(rows * r);
            Gemm.nt(rows, r, in, br.input().data(), br.a().data(), h, false);
            VectorMath.scale(h, br.scaling(), h.length);
            Gemm.nt(rows, out, r, h, br.b().data(), y.data(), true);
            hs[i] = h;
        }
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                if (x.requiresGrad()) {
                    // dx = dy·W for W [out, in]; dy·Wᵀ for W [in, out].
                    if (inOut) timesTransposed(rows, in, out, dy, w, x.gradForAccumulation(), true);
                    else times(rows, in, out, dy, w, x.gradForAccumulation(), true);
                }
                if (w.requiresGrad()) {
                    // dW = dyᵀ·x [out, in], or xᵀ·dy [in, out].
                    if (inOut) Gemm.tn(in, out, rows, x.data(), dy, w.gradForAccumulation(), true);
                    else Gemm.tn(out, in, rows, dy, x.data(), w.gradForAccumulation(), true);
                }
                if (b != null && b.requiresGrad()) {
                    float[] db = b.gradForAccumulation();
                    for (int r = 0; r < rows; r++) VectorMath.axpy(1f, dy, r * out, db, 0, out);
                }
                for (int i = 0; i < branches.size(); i++) {
                    LoraBranch br = branches.get(i);
                    int r = br.a().shape().dim(0);
                    // h was saved already scaled, so dB = dyᵀ·h and dh = scaling·dy·B.
                    if (br.b().requiresGrad()) Gemm.tn(out, r, rows, dy, hs[i], br.b().gradForAccumulation(), true);
                    if (!br.a().requiresGrad() && !br.input().requiresGrad()) continue;
                    float[] dh = Tape.current().allocate(rows * r);
                    Gemm.nn(rows, r, out, dy, br.b().data(), dh, false);
                    VectorMath.scale(dh, br.scaling(), dh.length);
                    if (br.a().requiresGrad()) Gemm.tn(r, in, rows, dh, br.input().data(), br.a().gradForAccumulation(), true);
                    if (br.input().requiresGrad()) Gemm.nn(rows, in, r, dh, br.a().data(), br.input().gradForAccumulation(), true);
                }
            });
        }
        return y;
    }

    /**
     * Columns [from, to) of x [..., cols]: result [..., to − from] (splitting GPT-2's fused q|k|v projection).
     * Backward adds each row's gradient into the same columns of dx.
     */
    public static Variable columns(Variable x, int from, int to) {
        int cols = x.shape().cols(), rows = x.shape().rows();
        if (from < 0 || to > cols || from >= to) {
            throw new IllegalArgumentException("columns: [" + from + ", " + to + ") is not a non-empty range of " + cols + " columns");
        }
        int width = to - from;
        Variable y = output(withLastDim(x.shape(), width), needsGrad(x));
        float[] xd = x.data(), yd = y.data();
        for (int r = 0; r < rows; r++) System.arraycopy(xd, r * cols + from, yd, r * width, width);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                float[] dx = x.gradForAccumulation();
                for (int r = 0; r < rows; r++) VectorMath.axpy(1f, dy, r * width, dx, r * cols + from, width);
            });
        }
        return y;
    }

    // ---- elementwise ------------------------------------------------------------------------------------

    /** a + b, same shapes. */
    public static Variable add(Variable a, Variable b) {
        return addScaled(a, b, 1f);
    }

    /** a + s·b, same shapes: the LoRA residual y + scaling·(B·A·x) in one pass. */
    public static Variable addScaled(Variable a, Variable b, float s) {
        requireSameShape("add", a, b);
        Variable y = output(a.shape(), needsGrad(a, b));
        int n = a.size();
        System.arraycopy(a.data(), 0, y.data(), 0, n);
        VectorMath.axpy(s, b.data(), 0, y.data(), 0, n);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                if (a.requiresGrad()) VectorMath.axpy(1f, dy, 0, a.gradForAccumulation(), 0, n);
                if (b.requiresGrad()) VectorMath.axpy(s, dy, 0, b.gradForAccumulation(), 0, n);
            });
        }
        return y;
    }

    /** x + bias broadcast over rows: x [..., n], bias [n]. */
    public static Variable addBias(Variable x, Variable bias) {
        int cols = x.shape().cols(), rows = x.shape().rows();
        if (bias.size() != cols) throw new IllegalArgumentException("addBias: bias " + bias.shape() + " for width " + cols);
        Variable y = output(x.shape(), needsGrad(x, bias));
        System.arraycopy(x.data(), 0, y.data(), 0, x.size());
        for (int r = 0; r < rows; r++) VectorMath.axpy(1f, bias.data(), 0, y.data(), r * cols, cols);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                if (x.requiresGrad()) VectorMath.axpy(1f, dy, 0, x.gradForAccumulation(), 0, x.size());
                if (bias.requiresGrad()) {
                    float[] db = bias.gradForAccumulation();
                    for (int r = 0; r < rows; r++) VectorMath.axpy(1f, dy, r * cols, db, 0, cols);
                }
            });
        }
        return y;
    }

    /** a ⊙ b, same shapes (SwiGLU's gate times up). */
    public static Variable mul(Variable a, Variable b) {
        requireSameShape("mul", a, b);
        Variable y = output(a.shape(), needsGrad(a, b));
        int n = a.size();
        VectorMath.mul(a.data(), b.data(), y.data(), n);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                if (a.requiresGrad()) addProduct(dy, b.data(), a.gradForAccumulation(), n);
                if (b.requiresGrad()) addProduct(dy, a.data(), b.gradForAccumulation(), n);
            });
        }
        return y;
    }

    private static void addProduct(float[] x, float[] y, float[] acc, int n) {
        float[] tmp = Tape.current().allocate(n);
        VectorMath.mul(x, y, tmp, n);
        VectorMath.axpy(1f, tmp, 0, acc, 0, n);
    }

    /**
     * x ⊙ s broadcast over rows: x [..., n], s [n] (DoRA's per-output magnitude over the normalised output).
     * Backward: dx += dy ⊙ s; ds += Σ_rows dy ⊙ x.
     */
    public static Variable scaleColumns(Variable x, Variable s) {
        int cols = x.shape().cols(), rows = x.shape().rows();
        if (s.size() != cols) throw new IllegalArgumentException("scaleColumns: scale " + s.shape() + " for width " + cols);
        Variable y = output(x.shape(), needsGrad(x, s));
        float[] xd = x.data(), sd = s.data(), yd = y.data();
        for (int r = 0; r < rows; r++) VectorMath.mul(xd, r * cols, sd, 0, yd, r * cols, cols);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                if (x.requiresGrad()) {
                    float[] dx = x.gradForAccumulation(), tmp = new float[cols];
                    for (int r = 0; r < rows; r++) {
                        VectorMath.mul(dy, r * cols, sd, 0, tmp, 0, cols);
                        VectorMath.axpy(1f, tmp, 0, dx, r * cols, cols);
                    }
                }
                if (s.requiresGrad()) {
                    float[] ds = s.gradForAccumulation(), tmp = new float[cols];
                    for (int r = 0; r < rows; r++) {
                        VectorMath.mul(dy, r * cols, xd, r * cols, tmp, 0, cols);
                        VectorMath.axpy(1f, tmp, 0, ds, 0, cols);
                    }
                }
            });
        }
        return y;
    }

    /** Σ x², a scalar: the L2 penalty on a parameter. Backward: dx += 2x·dy. */
    public static Variable sumOfSquares(Variable x) {
        Variable y = output(Shape.of(), needsGrad(x));
        float[] xd = x.data();
        double s = 0;
        for (float v : xd) s += (double) v * v;
        y.data()[0] = (float) s;
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) VectorMath.axpy(2f * y.grad()[0], xd, 0, x.gradForAccumulation(), 0, xd.length);
            });
        }
        return y;
    }

    /** s·x. */
    public static Variable scale(Variable x, float s) {
        Variable y = output(x.shape(), needsGrad(x));
        System.arraycopy(x.data(), 0, y.data(), 0, x.size());
        VectorMath.scale(y.data(), s, y.size());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) VectorMath.axpy(s, y.grad(), 0, x.gradForAccumulation(), 0, x.size());
            });
        }
        return y;
    }

    /**
     * x ⊙ s with s [rows] (or [rows, 1]) broadcast along each row of x [rows, cols]: AdaLoRA's A∘E, every right
     * singular vector scaled by its singular value. Backward: dx = dy·s per row; ds_i = Σ_j dy_ij·x_ij.
     */
    public static Variable scaleRows(Variable x, Variable s) {
        int rows = x.shape().rows(), cols = x.shape().cols();
        if (s.size() != rows) throw new IllegalArgumentException("scaleRows: " + s.shape() + " scales for " + rows + " rows of " + x.shape());
        Variable y = output(x.shape(), needsGrad(x, s));
        float[] xd = x.data(), sd = s.data(), yd = y.data();
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) yd[r * cols + c] = xd[r * cols + c] * sd[r];
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null) return;
                if (x.requiresGrad()) {
                    float[] dx = x.gradForAccumulation();
                    for (int r = 0; r < rows; r++) VectorMath.axpy(sd[r], dy, r * cols, dx, r * cols, cols);
                }
                if (s.requiresGrad()) {
                    float[] ds = s.gradForAccumulation();
                    for (int r = 0; r < rows; r++) {
                        double acc = 0;
                        for (int c = 0; c < cols; c++) acc += (double) dy[r * cols + c] * xd[r * cols + c];
                        ds[r] += (float) acc;
                    }
                }
            });
        }
        return y;
    }

    /**
     * ||G − I||_F for the Gram matrix of P [m, n]: G = P·Pᵀ over its rows ({@code rows}) or Pᵀ·P over its columns.
     * AdaLoRA's orthogonality regulariser keeps A's rows and B's columns orthonormal. With M = G − I (symmetric)
     * and f the norm, backward is dP = (2/f)·M·P (rows) or (2/f)·P·M (columns); at f = 0 the norm has no
     * gradient and none is added.
     */
    public static Variable gramDeviation(Variable p, boolean rows) {
        int m = p.shape().rows(), n = p.shape().cols();
        int k = rows ? m : n;
        float[] pd = p.data();
        float[] g = new float[k * k];
        if (rows) Gemm.nt(m, m, n, pd, pd, g, false);
        else Gemm.tn(n, n, m, pd, pd, g, false);
        double sq = 0;
        for (int i = 0; i < k; i++) {
            g[i * k + i] -= 1f;
            for (int j = 0; j < k; j++) sq += (double) g[i * k + j] * g[i * k + j];
        }
        double f = Math.sqrt(sq);
        Variable y = output(Shape.of(), needsGrad(p));
        y.data()[0] = (float) f;
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                float[] dy = y.grad();
                if (dy == null || f == 0) return;
                float c = (float) (2 * dy[0] / f);
                float[] mp = new float[m * n];
                if (rows) Gemm.nn(m, n, m, g, pd, mp, false);
                else Gemm.nn(m, n, n, pd, g, mp, false);
                VectorMath.axpy(c, mp, 0, p.gradForAccumulation(), 0, m * n);
            });
        }
        return y;
    }

    /** Exact GELU, 0.5·x·(1 + erf(x/√2)) (BERT's "gelu"). */
    public static Variable gelu(Variable x) {
        return unary(x, Activations::gelu, Activations::geluBackward);
    }

    /** Tanh-approximated GELU (GPT-2's "gelu_new"). */
    public static Variable geluTanh(Variable x) {
        return unary(x, Activations::geluTanh, Activations::geluTanhBackward);
    }

    /** SiLU, x·σ(x) (Llama's "silu"). */
    public static Variable silu(Variable x) {
        return unary(x, Activations::silu, Activations::siluBackward);
    }

    /**
     * silu(gate) ⊙ up in one op (Llama's SwiGLU MLP): the same values as {@code mul(silu(gate), up)}, but the
     * [rows, intermediate] silu(gate) is neither written nor kept for backward, which recomputes it from gate.
     */
    public static Variable siluMul(Variable gate, Variable up) {
        requireSameShape("siluMul", gate, up);
        Variable y = output(gate.shape(), needsGrad(gate, up));
        int n = gate.size();
        Activations.siluMul(gate.data(), up.data(), y.data(), n);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                Activations.siluMulBackward(gate.data(), up.data(), y.grad(), gate.requiresGrad() ? gate.gradForAccumulation() : null,
                    up.requiresGrad() ? up.gradForAccumulation() : null, n);
            });
        }
        return y;
    }

    /** tanh (BERT's pooler); the backward uses the output, 1 − y². */
    public static Variable tanh(Variable x) {
        Variable y = output(x.shape(), needsGrad(x));
        Activations.tanh(x.data(), y.data(), x.size());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Activations.tanhBackward(y.data(), y.grad(), x.gradForAccumulation(), x.size());
            });
        }
        return y;
    }

    private interface UnaryForward { void apply(float[] x, float[] y, int n); }
    private interface UnaryBackward { void apply(float[] x, float[] dy, float[] dx, int n); }

    private static Variable unary(Variable x, UnaryForward f, UnaryBackward b) {
        Variable y = output(x.shape(), needsGrad(x));
        f.apply(x.data(), y.data(), x.size());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) b.apply(x.data(), y.grad(), x.gradForAccumulation(), x.size());
            });
        }
        return y;
    }

    /** Inverted dropout with a counter-based mask from {@code seed}: backward regenerates it, nothing stored. */
    public static Variable dropout(Variable x, float p, long seed) {
        if (p == 0f) return x;
        Variable y = output(x.shape(), needsGrad(x));
        Dropout.forward(x.data(), y.data(), x.size(), p, seed);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Dropout.backward(y.grad(), x.gradForAccumulation(), x.size(), p, seed);
            });
        }
        return y;
    }

    /** Row-wise softmax over the last dimension. */
    public static Variable softmax(Variable x) {
        int rows = x.shape().rows(), cols = x.shape().cols();
        Variable y = output(x.shape(), needsGrad(x));
        Softmax.forward(x.data(), y.data(), rows, cols);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Softmax.backward(y.data(), y.grad(), x.gradForAccumulation(), rows, cols);
            });
        }
        return y;
    }

    // ---- normalisation ----------------------------------------------------------------------------------

    /** LayerNorm over the last dimension with weight gamma and optional bias beta (PyTorch semantics). */
    public static Variable layerNorm(Variable x, Variable gamma, Variable beta, float eps) {
        int rows = x.shape().rows(), cols = x.shape().cols();
        if (gamma.size() != cols) throw new IllegalArgumentException("layerNorm: weight " + gamma.shape() + " for width " + cols);
        Variable y = output(x.shape(), needsGrad(x, gamma, beta));
        float[] mean = new float[rows], rstd = new float[rows];
        LayerNormKernel.forward(x.data(), gamma.data(), beta == null ? null : beta.data(), y.data(), mean, rstd, rows, cols, eps);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                LayerNormKernel.backward(y.grad(), x.data(), gamma.data(), mean, rstd,
                    x.requiresGrad() ? x.gradForAccumulation() : null,
                    gamma.requiresGrad() ? gamma.gradForAccumulation() : null,
                    beta != null && beta.requiresGrad() ? beta.gradForAccumulation() : null, rows, cols);
            });
        }
        return y;
    }

    /** RMSNorm over the last dimension (Llama): x·rsqrt(mean(x²)+eps)·gamma. */
    public static Variable rmsNorm(Variable x, Variable gamma, float eps) {
        int rows = x.shape().rows(), cols = x.shape().cols();
        if (gamma.size() != cols) throw new IllegalArgumentException("rmsNorm: weight " + gamma.shape() + " for width " + cols);
        Variable y = output(x.shape(), needsGrad(x, gamma));
        float[] rstd = new float[rows];
        RmsNormKernel.forward(x.data(), gamma.data(), y.data(), rstd, rows, cols, eps);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                RmsNormKernel.backward(y.grad(), x.data(), gamma.data(), rstd,
                    x.requiresGrad() ? x.gradForAccumulation() : null,
                    gamma.requiresGrad() ? gamma.gradForAccumulation() : null, rows, cols);
            });
        }
        return y;
    }

    // ---- embeddings, positions, attention -------------------------------------------------------------

    /** Rows of {@code table} [vocab, dim] picked by {@code ids}: result [ids.length, dim]. */
    public static Variable embedding(Variable table, int[] ids) {
        int dim = table.shape().cols();
        Variable y = output(Shape.of(ids.length, dim), needsGrad(table));
        if (readInPlace(table)) EmbeddingKernel.gather(table.value().segment(), format(table.value()), dim, ids, y.data());
        else EmbeddingKernel.gather(table.data(), dim, ids, y.data());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) EmbeddingKernel.scatterAdd(y.grad(), ids, dim, table.gradForAccumulation());
            });
        }
        return y;
    }

    /**
     * Columns of {@code table} [rank, vocab] picked by {@code ids}: result [ids.length, rank]. LoRA's embedding
     * A is stored [r, vocab] (Peft's layout), and this looks it up as if it were its transpose.
     */
    public static Variable embeddingColumns(Variable table, int[] ids) {
        int rank = table.shape().dim(0);
        Variable y = output(Shape.of(ids.length, rank), needsGrad(table));
        EmbeddingKernel.gatherColumns(table.data(), rank, ids, y.data());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) EmbeddingKernel.scatterAddColumns(y.grad(), ids, rank, table.gradForAccumulation());
            });
        }
        return y;
    }

    /**
     * Rotary position embedding (Hugging Face rotate-half) on x [tokens, heads·headDim]; token t is at
     * positions[t]. The backward is the inverse rotation of the incoming gradient.
     */
    public static Variable rope(Variable x, int heads, int headDim, int[] positions, Rope.Table table) {
        int rows = x.shape().rows();
        if (x.shape().cols() != heads * headDim || positions.length != rows) {
            throw new IllegalArgumentException("rope: x " + x.shape() + " vs " + heads + " heads x " + headDim + ", " + positions.length + " positions");
        }
        Variable y = output(x.shape(), needsGrad(x));
        System.arraycopy(x.data(), 0, y.data(), 0, x.size());
        Rope.apply(y.data(), rows, heads, headDim, positions, table, false);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                float[] g = y.grad().clone();
                Rope.apply(g, rows, heads, headDim, positions, table, true);
                VectorMath.axpy(1f, g, 0, x.gradForAccumulation(), 0, g.length);
            });
        }
        return y;
    }

    /**
     * Multi-head scaled dot-product attention; q [batch·seq, heads·headDim], k and v [batch·seq,
     * kvHeads·headDim]. Saves only the output and each row's log-sum-exp; backward recomputes the rest.
     */
    public static Variable attention(Variable q, Variable k, Variable v, Attention.Shape s, boolean causal,
                                     boolean[] keyValid, float scale) {
        Variable y = output(q.shape(), needsGrad(q, k, v));
        float[] lse = new float[s.batch() * s.heads() * s.seq()];
        Attention.forward(q.data(), k.data(), v.data(), y.data(), lse, s, causal, keyValid, scale);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                // The kernel adds into all three; a frozen input gets a scratch buffer that is dropped.
                float[] dq = q.requiresGrad() ? q.gradForAccumulation() : Tape.current().allocate(q.size());
                float[] dk = k.requiresGrad() ? k.gradForAccumulation() : Tape.current().allocate(k.size());
                float[] dv = v.requiresGrad() ? v.gradForAccumulation() : Tape.current().allocate(v.size());
                Attention.backward(q.data(), k.data(), v.data(), y.data(), lse, y.grad(), dq, dk, dv, s, causal, keyValid, scale);
            });
        }
        return y;
    }

    // ---- pooling ------------------------------------------------------------------------------------------

    /** Rows of x picked by index (x[rows[i]]): the [CLS] vector of each sequence, the last token, ... */
    public static Variable selectRows(Variable x, int[] rows) {
        return embedding(x, rows);
    }

    /** Masked mean over each sequence: x [batch·seq, dim] -> [batch, dim]. */
    public static Variable meanPool(Variable x, int batch, int seq, int[] mask) {
        int dim = x.shape().cols();
        if (mask.length != batch * seq) throw new IllegalArgumentException("meanPool: mask has " + mask.length + " entries, need " + batch * seq);
        Variable y = output(Shape.of(batch, dim), needsGrad(x));
        Pooling.meanForward(x.data(), batch, seq, dim, mask, y.data());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Pooling.meanBackward(y.grad(), batch, seq, dim, mask, x.gradForAccumulation());
            });
        }
        return y;
    }

    /** Each row scaled to unit L2 norm (torch.nn.functional.normalize, eps 1e-12). */
    public static Variable l2Normalize(Variable x) {
        int rows = x.shape().rows(), cols = x.shape().cols();
        float eps = 1e-12f;
        Variable y = output(x.shape(), needsGrad(x));
        float[] norms = new float[rows];
        Pooling.l2NormalizeForward(x.data(), y.data(), norms, rows, cols, eps);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Pooling.l2NormalizeBackward(y.data(), y.grad(), norms, x.gradForAccumulation(), rows, cols, eps);
            });
        }
        return y;
    }

    // ---- losses -----------------------------------------------------------------------------------------

    /**
     * Mean cross-entropy of logits [rows, vocab] against targets, skipping rows whose target is
     * {@code ignoreIndex}. The gradient is computed in the same fused pass as the loss and kept until backward.
     */
    public static Variable crossEntropy(Variable logits, int[] targets, int ignoreIndex) {
        int rows = logits.shape().rows(), vocab = logits.shape().cols();
        if (targets.length != rows) throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for " + rows + " rows");
        boolean grad = needsGrad(logits);
        int counted = 0;
        for (int t : targets) if (t != ignoreIndex) counted++;
        float inv = counted == 0 ? 0f : 1f / counted;
        float[] dLogits = grad ? Tape.current().allocate(logits.size()) : null;
        CrossEntropy.Result r = CrossEntropy.forwardBackward(logits.data(), rows, vocab, targets, ignoreIndex, dLogits, inv);
        Variable loss = output(Shape.of(), grad);
        loss.data()[0] = (float) (r.count() == 0 ? 0 : r.lossSum() / r.count());
        if (grad) {
            Tape.current().record(loss, () -> {
                if (loss.grad() == null) return;
                // dLogits is this op's own: it becomes the logits' gradient when none has arrived yet (the usual
                // case), which spares a second [rows, vocab] array.
                logits.addGradHandingOver(dLogits, loss.grad()[0]);
            });
        }
        return loss;
    }

    /**
     * Logits a chunk of {@link #linearCrossEntropy} holds at most, by default: 16 Mi floats (64 MiB), 341 rows of
     * SmolLM2's 49,152-token vocabulary (a 1,024-token batch then runs as 4 chunks of 256 rows, 48 MiB, where the
     * materialised head held 201 MB of logits and 201 MB of their gradient). Smaller chunks save little more and cost
     * time: each chunk's two GEMMs pack the whole [vocab, hidden] weight again, a pass over memory that only a tall
     * chunk's multiply hides. Measured on the 2-core dev machine for [1024, 576] x [49152, 576], forward + backward,
     * against the materialised head: 85-row chunks (16 MiB) took about 2x as long, 128 rows 1.5x, 256 rows 1.25x,
     * 342 rows 1.15x, 512 rows 1.1x.
     */
    public static final int DEFAULT_CHUNK_LOGITS = 16 << 20;

    /** The rows of a chunk of {@link #linearCrossEntropy} for this vocabulary: {@link #DEFAULT_CHUNK_LOGITS} logits, at least one row. */
    public static int defaultChunkRows(int vocab) {
        return Math.max(1, DEFAULT_CHUNK_LOGITS / Math.max(1, vocab));
    }

    /** {@link #linearCrossEntropy(Variable, Variable, int[], int, int)} in chunks of {@link #defaultChunkRows}. */
    public static Variable linearCrossEntropy(Variable hidden, Variable weight, int[] targets, int ignoreIndex) {
        return linearCrossEntropy(hidden, weight, targets, ignoreIndex, defaultChunkRows(weight.shape().dim(0)));
    }

    /**
     * The language-model head and its loss in one op: mean cross-entropy of the logits hidden·Wᵀ against targets
     * (rows whose target is {@code ignoreIndex} skipped), the same value as {@code crossEntropy(linear(hidden, W,
     * null), targets, ignoreIndex)} without ever holding the logits [rows, vocab] or their gradient whole (Liger
     * Kernel's fused linear cross-entropy). hidden [..., h], W [vocab, h] (the lm_head, PyTorch's layout; heap,
     * mapped or quantized). The rows go in chunks of at most {@code chunkRows}, split evenly (1,024 rows at most 341
     * a chunk run as 4 x 256, not 3 x 341 + 1, since every chunk costs a pass over W): the chunk's logits, its loss and softmax
     * gradient in place over them, then at once what backward will need from them: dhidden = dlogits·W into a
     * [rows, h] buffer when hidden requires a gradient, and dW += dlogitsᵀ·hidden into a [vocab, h] buffer when W
     * does (a trainable or tied head). A chunk whose targets are all ignored costs nothing. Backward only scales
     * the kept buffers by the loss's gradient and hands them over. Under {@link Tape#noGrad()} only the loss.
     */
    public static Variable linearCrossEntropy(Variable hidden, Variable weight, int[] targets, int ignoreIndex, int chunkRows) {
        int rows = hidden.shape().rows(), h = hidden.shape().cols();
        if (weight.shape().rank() != 2 || weight.shape().dim(1) != h) {
            throw new IllegalArgumentException("linearCrossEntropy: weight " + weight.shape() + " ([vocab, hidden]) does not take hidden states of width " + h);
        }
        int vocab = weight.shape().dim(0);
        if (targets.length != rows) throw new IllegalArgumentException("linearCrossEntropy: " + targets.length + " targets for " + rows + " rows");
        if (chunkRows < 1) throw new IllegalArgumentException("linearCrossEntropy: chunk of " + chunkRows + " rows");
        int counted = 0;
        for (int r = 0; r < rows; r++) {
            int t = targets[r];
            if (t == ignoreIndex) continue;
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("linearCrossEntropy: target " + t + " of row " + r + " is outside the vocabulary [0, "
                    + vocab + ") and is not the ignore index " + ignoreIndex);
            }
            counted++;
        }
        boolean gradHidden = needsGrad(hidden), gradWeight = needsGrad(weight);
        float inv = counted == 0 ? 0f : 1f / counted;
        Tape tape = Tape.current();
        int chunks = Math.max(1, (rows + chunkRows - 1) / chunkRows);
        int chunk = Math.max(1, (rows + chunks - 1) / chunks);
        // One buffer per chunk for the logits, overwritten in place by their gradient.
        float[] logits = tape.allocate(chunk * vocab);
        float[] hChunk = tape.allocate(chunk * h);
        float[] dhChunk = gradHidden ? tape.allocate(chunk * h) : null;
        float[] dHidden = gradHidden ? gradientBuffer(hidden) : null;
        float[] dWeight = gradWeight ? gradientBuffer(weight) : null;
        float[] hd = hidden.data();
        boolean grad = gradHidden || gradWeight;
        double lossSum = 0;
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int n = Math.min(chunk, rows - r0);
            int[] t = java.util.Arrays.copyOfRange(targets, r0, r0 + n);
            boolean any = false;
            for (int x : t) any |= x != ignoreIndex;
            if (!any) continue;
            // The weight helpers take operands from offset 0: the chunk's rows are copied out (n·h floats, small).
            System.arraycopy(hd, r0 * h, hChunk, 0, n * h);
            timesTransposed(n, vocab, h, hChunk, weight, logits, false);
            lossSum += CrossEntropy.forwardBackward(logits, n, vocab, t, ignoreIndex, grad ? logits : null, inv).lossSum();
            if (gradHidden) {
                times(n, h, vocab, logits, weight, dhChunk, false);
                System.arraycopy(dhChunk, 0, dHidden, r0 * h, n * h);
            }
            if (gradWeight) Gemm.tn(vocab, h, n, logits, hChunk, dWeight, true);
        }
        Variable loss = output(Shape.of(), grad);
        loss.data()[0] = (float) (counted == 0 ? 0 : lossSum / counted);
        if (loss.requiresGrad()) {
            tape.record(loss, () -> {
                if (loss.grad() == null) return;
                float seed = loss.grad()[0];
                if (dHidden != null) hidden.addGradHandingOver(dHidden, seed);
                if (dWeight != null) weight.addGradHandingOver(dWeight, seed);
            });
        }
        return loss;
    }

    /**
     * A zeroed buffer that may become v's gradient: from the tape's pool only when v is itself a pooled op output,
     * since a parameter's gradient must outlive the scope (the pool takes its arrays back when the scope closes).
     */
    private static float[] gradientBuffer(Variable v) {
        return v.pooled() ? Tape.current().allocate(v.size()) : new float[v.size()];
    }

    /**
     * Knowledge distillation's soft-target loss (Hinton et al. 2015): over the rows whose target is not
     * {@code ignoreIndex}, the mean of T²·KL(p_t ‖ p_s) with p_t = softmax(teacher/T), p_s = softmax(student/T),
     * i.e. T²·Σ_v p_t(v)·(log p_t(v) − log p_s(v)). The T² keeps its gradient on the scale of the hard loss's as T
     * changes. Backward: d student = T·(p_s − p_t) / rows counted. The teacher's logits are constants.
     */
    public static Variable distillationKl(Variable student, float[] teacher, float temperature, int[] targets, int ignoreIndex) {
        int rows = student.shape().rows(), vocab = student.shape().cols();
        if (teacher.length != student.size()) {
            throw new IllegalArgumentException("distillationKl: teacher logits have " + teacher.length + " values, student " + student.shape()
                + " (teacher and student must share the vocabulary)");
        }
        if (targets.length != rows) throw new IllegalArgumentException("distillationKl: " + targets.length + " targets for " + rows + " rows");
        if (!(temperature > 0)) throw new IllegalArgumentException("distillationKl: temperature must be positive, got " + temperature);
        int counted = 0;
        for (int t : targets) if (t != ignoreIndex) counted++;
        boolean grad = needsGrad(student);
        float[] d = grad ? new float[student.size()] : null;
        double total = 0, invT = 1.0 / temperature;
        double[] ps = new double[vocab], pt = new double[vocab];
        float[] sd = student.data();
        for (int r = 0; r < rows; r++) {
            if (targets[r] == ignoreIndex) continue;
            int o = r * vocab;
            double lzs = logSumExp(sd, o, vocab, invT, ps), lzt = logSumExp(teacher, o, vocab, invT, pt);
            double kl = 0;
            for (int v = 0; v < vocab; v++) {
                double logPt = teacher[o + v] * invT - lzt, logPs = sd[o + v] * invT - lzs;
                double p = Math.exp(logPt);
                kl += p * (logPt - logPs);
                pt[v] = p;
                ps[v] = Math.exp(logPs);
            }
            total += kl;
            if (grad) for (int v = 0; v < vocab; v++) d[o + v] = (float) (temperature * (ps[v] - pt[v]) / counted);
        }
        Variable loss = output(Shape.of(), grad);
        loss.data()[0] = (float) (counted == 0 ? 0 : temperature * temperature * total / counted);
        if (grad && counted > 0) {
            Tape.current().record(loss, () -> {
                if (loss.grad() != null) VectorMath.axpy(loss.grad()[0], d, 0, student.gradForAccumulation(), 0, d.length);
            });
        }
        return loss;
    }

    /** log Σ exp(x·s) over x[o, o+n), stably (the max subtracted first). */
    private static double logSumExp(float[] x, int o, int n, double s, double[] scratch) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < n; v++) max = Math.max(max, x[o + v] * s);
        double sum = 0;
        for (int v = 0; v < n; v++) sum += Math.exp(x[o + v] * s - max);
        return max + Math.log(sum);
    }

    /** Mean squared error between x and a constant target of the same size. */
    public static Variable mse(Variable x, float[] target) {
        int n = x.size();
        if (target.length != n) throw new IllegalArgumentException("mse: target has " + target.length + " elements, x has " + n);
        float[] diff = new float[n];
        double s = 0;
        for (int i = 0; i < n; i++) {
            diff[i] = x.data()[i] - target[i];
            s += (double) diff[i] * diff[i];
        }
        Variable loss = output(Shape.of(), needsGrad(x));
        loss.data()[0] = (float) (s / n);
        if (loss.requiresGrad()) {
            Tape.current().record(loss, () -> {
                if (loss.grad() != null) VectorMath.axpy(2f * loss.grad()[0] / n, diff, 0, x.gradForAccumulation(), 0, n);
            });
        }
        return loss;
    }

    /** Σ x ⊙ w for a constant w: a scalar probe of x, used by gradient checks. */
    public static Variable dot(Variable x, float[] w) {
        if (w.length != x.size()) throw new IllegalArgumentException("dot: weights have " + w.length + " elements, x has " + x.size());
        Variable y = output(Shape.of(), needsGrad(x));
        double s = 0;
        for (int i = 0; i < w.length; i++) s += (double) x.data()[i] * w[i];
        y.data()[0] = (float) s;
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) VectorMath.axpy(y.grad()[0], w, 0, x.gradForAccumulation(), 0, w.length);
            });
        }
        return y;
    }
}
