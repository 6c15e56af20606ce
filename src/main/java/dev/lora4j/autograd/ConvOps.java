package dev.lora4j.autograd;

import dev.lora4j.kernel.BatchNormKernel;
import dev.lora4j.kernel.Conv2dShape;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.Im2col;
import dev.lora4j.kernel.Pool2dKernel;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;

/**
 * The differentiable operations of convolutional networks on NCHW tensors (PyTorch's layout), forward and
 * backward side by side as in {@link Ops}: convolution (im2col + one GEMM for the whole batch), max and
 * average pooling, batch normalisation, ReLU, and reshapes. A 1-D convolution over [n, c, l] is the 2-D one
 * with height 1.
 */
public final class ConvOps {
    private ConvOps() {}

    private static boolean needsGrad(Variable... inputs) {
        if (!Tape.current().recording()) return false;
        for (Variable v : inputs) if (v != null && v.requiresGrad()) return true;
        return false;
    }

    private static Variable output(Shape shape, boolean requiresGrad) {
        return new Variable(new Tensor(shape, new float[shape.size()]), requiresGrad);
    }

    /** The window geometry of x [n, c, h, w] under a kernel and stride/padding/dilation given as (h, w) pairs. */
    public static Conv2dShape geometry(Variable x, int kh, int kw, int[] stride, int[] padding, int[] dilation) {
        if (x.shape().rank() != 4) throw new IllegalArgumentException("expected an NCHW input [n, c, h, w], got " + x.shape());
        int[] d = x.shape().dims();
        return new Conv2dShape(d[0], d[1], d[2], d[3], kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]);
    }

    /**
     * y [n, out, oh, ow] = conv2d(x [n, c, h, w], W [out, c, kh, kw]) + b (PyTorch's conv2d, groups 1), with the
     * window geometry {@code s}. Forward: cols = im2col(x) [c·kh·kw, n·oh·ow], Y = W·cols. Backward: dW += dY·colsᵀ,
     * dcols = Wᵀ·dY folded back by col2im, db += Σ dY; only for inputs that require them.
     */
    public static Variable conv2d(Variable x, Variable w, Variable b, Conv2dShape s) {
        return conv2dLora(x, w, b, null, null, 0f, s);
    }

    /**
     * A convolution with a LoRA branch fused in: y = conv2d(x, W) + b + scaling·B·conv2d(x, A), where A [r, c, kh, kw]
     * has W's geometry and B [out, r, 1, 1] is a 1x1 convolution (Peft's LoRA on a conv, one adapter, no dropout).
     * Base and branch read the same column matrix, so the input is unfolded once and the input gradient folded
     * back once: without the fusion, LoRA doubled the memory passes that dominate a small convolution's cost.
     * {@code a} and {@code bMat} null means a plain convolution.
     */
    public static Variable conv2dLora(Variable x, Variable w, Variable b, Variable a, Variable bMat, float scaling, Conv2dShape s) {
        int out = checkKernel("weight", w, s), rows = s.n() * s.outPlane(), patch = s.patch();
        if (x.size() != s.n() * s.c() * s.h() * s.w()) throw new IllegalArgumentException("conv2d: input " + x.shape() + " does not match " + s);
        if (b != null && b.size() != out) throw new IllegalArgumentException("conv2d: bias " + b.shape() + " for " + out + " channels");
        int r = a == null ? 0 : checkKernel("lora_A", a, s);
        if (a != null && bMat.size() != out * r) throw new IllegalArgumentException("conv2d: lora_B " + bMat.shape() + " is not [" + out + ", " + r + ", 1, 1]");
        float[] cols = new float[patch * rows];
        Im2col.im2col(x.data(), s, cols);
        float[] yGemm = new float[out * rows];
        Gemm.nn(out, rows, patch, w.data(), cols, yGemm, false);
        float[] h = null;
        if (a != null) {
            h = new float[r * rows];
            Gemm.nn(r, rows, patch, a.data(), cols, h, false);
            float[] bs = bMat.data().clone();
            VectorMath.scale(bs, scaling, bs.length);
            Gemm.nn(out, rows, r, bs, h, yGemm, true);
        }
        if (b != null) for (int o = 0; o < out; o++) addConstant(yGemm, o * rows, rows, b.data()[o]);
        Variable y = output(Shape.of(s.n(), out, s.outH(), s.outW()), needsGrad(x, w, b, a, bMat));
        Im2col.channelsToBatch(yGemm, y.data(), s.n(), out, s.outPlane(), false);
        if (y.requiresGrad()) {
            float[] hKept = h;
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                float[] dy = new float[out * rows];
                Im2col.channelsToBatch(y.grad(), dy, s.n(), out, s.outPlane(), true);
                if (w.requiresGrad()) reduceOverPositions(out, patch, rows, dy, cols, w.gradForAccumulation());
                if (b != null && b.requiresGrad()) {
                    float[] db = b.gradForAccumulation();
                    for (int o = 0; o < out; o++) db[o] += VectorMath.sum(dy, o * rows, rows);
                }
                float[] dh = null;
                if (a != null) {
                    // dB = scaling·dY·Hᵀ, dH = scaling·Bᵀ·dY, dA = dH·colsᵀ.
                    if (bMat.requiresGrad()) {
                        float[] dB = new float[out * r];
                        reduceOverPositions(out, r, rows, dy, hKept, dB);
                        VectorMath.axpy(scaling, dB, 0, bMat.gradForAccumulation(), 0, dB.length);
                    }
                    dh = new float[r * rows];
                    Gemm.tn(r, rows, out, bMat.data(), dy, dh, false);
                    VectorMath.scale(dh, scaling, dh.length);
                    if (a.requiresGrad()) reduceOverPositions(r, patch, rows, dh, cols, a.gradForAccumulation());
                }
                if (x.requiresGrad()) {
                    float[] dcols = new float[patch * rows];
                    Gemm.tn(patch, rows, out, w.data(), dy, dcols, false);
                    if (dh != null) Gemm.tn(patch, rows, r, a.data(), dh, dcols, true);
                    Im2col.col2im(dcols, s, x.gradForAccumulation());
                }
            });
        }
        return y;
    }

    /**
     * C [m, n] += A [m, k] · B [n, k]ᵀ for a weight gradient, where k (every output position of the batch) is far
     * larger than m and n. Done as a sum of GEMMs over 512-position slices: one Gemm.nt over the whole k ran
     * 3-4x slower on these shapes (measured on 16x144x8192 and 4x144x8192).
     */
    private static void reduceOverPositions(int m, int n, int k, float[] a, float[] b, float[] c) {
        for (int k0 = 0; k0 < k; k0 += POSITION_SLICE) {
            Gemm.nt(m, n, Math.min(POSITION_SLICE, k - k0), a, k0, k, b, k0, k, c, 0, n, true);
        }
    }

    private static final int POSITION_SLICE = 512;

    /** Checks a kernel against the geometry and returns its output channels. */
    private static int checkKernel(String what, Variable k, Conv2dShape s) {
        int[] d = k.shape().dims();
        // A Conv1d's weight [out, c, k] is the [out, c, 1, k] one of a height-1 convolution: only its size must agree.
        if (d.length < 3 || d[1] != s.c() || k.size() != d[0] * s.patch()) {
            throw new IllegalArgumentException("conv2d: " + what + " " + k.shape() + " does not match [out, " + s.c() + ", " + s.kh() + ", " + s.kw() + "]");
        }
        return d[0];
    }

    private static void addConstant(float[] x, int off, int n, float c) {
        for (int i = 0; i < n; i++) x[off + i] += c;
    }

    /** Max pooling (torch's max_pool2d, padded positions never chosen); backward routes dy to each window's maximum. */
    public static Variable maxPool2d(Variable x, Conv2dShape s) {
        Variable y = output(Shape.of(s.n(), s.c(), s.outH(), s.outW()), needsGrad(x));
        int[] argmax = new int[y.size()];
        Pool2dKernel.maxForward(x.data(), s, y.data(), argmax);
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Pool2dKernel.maxBackward(y.grad(), argmax, x.gradForAccumulation());
            });
        }
        return y;
    }

    /** Average pooling (torch's avg_pool2d, count_include_pad=True). */
    public static Variable avgPool2d(Variable x, Conv2dShape s) {
        Variable y = output(Shape.of(s.n(), s.c(), s.outH(), s.outW()), needsGrad(x));
        Pool2dKernel.avgForward(x.data(), s, y.data());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) Pool2dKernel.avgBackward(y.grad(), s, x.gradForAccumulation());
            });
        }
        return y;
    }

    /** Mean over each channel plane: [n, c, h, w] -> [n, c] (adaptive_avg_pool2d to 1x1, then flatten). */
    public static Variable globalAvgPool(Variable x) {
        int[] d = x.shape().dims();
        Conv2dShape s = new Conv2dShape(d[0], d[1], d[2], d[3], d[2], d[3], 1, 1, 0, 0, 1, 1);
        return reshape(avgPool2d(x, s), d[0], d[1]);
    }

    /**
     * Batch normalisation over the channels of x [n, c, ...] (torch's batch_norm). In training mode with batch
     * statistics, updating runningMean/runningVar in place (when given); otherwise with the running statistics.
     * gamma and beta [c] may be null (affine=False).
     */
    public static Variable batchNorm(Variable x, Variable gamma, Variable beta, float[] runningMean, float[] runningVar,
                                     boolean training, float momentum, float eps) {
        if (x.shape().rank() < 2) throw new IllegalArgumentException("batchNorm: expected [n, c, ...], got " + x.shape());
        int n = x.shape().dim(0), c = x.shape().dim(1), plane = x.size() / (n * c);
        if (gamma != null && gamma.size() != c) throw new IllegalArgumentException("batchNorm: weight " + gamma.shape() + " for " + c + " channels");
        if (!training && (runningMean == null || runningVar == null)) {
            throw new IllegalArgumentException("batchNorm: evaluation mode needs running statistics");
        }
        Variable y = output(x.shape(), needsGrad(x, gamma, beta));
        float[] mean = new float[c], rstd = new float[c];
        float[] g = gamma == null ? null : gamma.data(), bt = beta == null ? null : beta.data();
        if (training) {
            // The running update is a side effect of the forward, as in torch (also under no_grad).
            BatchNormKernel.forwardTraining(x.data(), n, c, plane, g, bt, y.data(), mean, rstd, runningMean, runningVar, momentum, eps);
        } else {
            System.arraycopy(runningMean, 0, mean, 0, c);
            BatchNormKernel.forwardInference(x.data(), n, c, plane, g, bt, y.data(), runningMean, runningVar, rstd, eps);
        }
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                BatchNormKernel.backward(y.grad(), x.data(), n, c, plane, g, mean, rstd, training,
                    x.requiresGrad() ? x.gradForAccumulation() : null,
                    gamma != null && gamma.requiresGrad() ? gamma.gradForAccumulation() : null,
                    beta != null && beta.requiresGrad() ? beta.gradForAccumulation() : null);
            });
        }
        return y;
    }

    /** max(x, 0); the backward passes dy where x > 0. */
    public static Variable relu(Variable x) {
        Variable y = output(x.shape(), needsGrad(x));
        float[] xd = x.data(), yd = y.data();
        for (int i = 0; i < xd.length; i++) yd[i] = xd[i] > 0 ? xd[i] : 0f;
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() == null) return;
                float[] dy = y.grad(), dx = x.gradForAccumulation();
                for (int i = 0; i < dy.length; i++) if (xd[i] > 0) dx[i] += dy[i];
            });
        }
        return y;
    }

    /** The same elements under another shape of the same size (torch's reshape/flatten/view). */
    public static Variable reshape(Variable x, int... dims) {
        Shape shape = Shape.of(dims);
        if (shape.size() != x.size()) throw new IllegalArgumentException("reshape: " + x.shape() + " has " + x.size() + " elements, " + shape + " needs " + shape.size());
        Variable y = output(shape, needsGrad(x));
        System.arraycopy(x.data(), 0, y.data(), 0, x.size());
        if (y.requiresGrad()) {
            Tape.current().record(y, () -> {
                if (y.grad() != null) VectorMath.axpy(1f, y.grad(), 0, x.gradForAccumulation(), 0, x.size());
            });
        }
        return y;
    }
}
