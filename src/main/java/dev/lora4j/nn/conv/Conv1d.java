package dev.lora4j.nn.conv;

import dev.lora4j.autograd.ConvOps;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Init;
import dev.lora4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/**
 * torch.nn.Conv1d (groups 1) over [n, in, length]: weight [out, in, k], optional bias [out]. Computed as a
 * height-1 {@link ConvOps#conv2d}. (Not to be confused with transformers' Conv1D, {@link dev.lora4j.nn.Conv1D},
 * which is a linear layer.)
 */
public final class Conv1d extends ConvLayer {
    private final Variable weight;
    private final Variable bias;
    private final int stride;
    private final int padding;
    private final int dilation;

    public Conv1d(Variable weight, Variable bias, int stride, int padding, int dilation) {
        if (weight.shape().rank() != 3) throw new IllegalArgumentException("Conv1d weight must be [out, in, k], got " + weight.shape());
        if (bias != null && bias.size() != weight.shape().dim(0)) throw new IllegalArgumentException("Conv1d bias " + bias.shape() + " for weight " + weight.shape());
        this.weight = parameter("weight", weight);
        this.bias = bias == null ? null : parameter("bias", bias);
        this.stride = stride;
        this.padding = padding;
        this.dilation = dilation;
    }

    /** PyTorch's default initialisation, U(±1/√(in·k)) for weight and bias. */
    public static Conv1d random(int in, int out, int kernel, int stride, int padding, boolean bias, RandomGenerator rnd) {
        float bound = (float) (1 / Math.sqrt(in * kernel));
        return new Conv1d(Variable.parameter(Init.uniform(rnd, bound, out, in, kernel)),
            bias ? Variable.parameter(Init.uniform(rnd, bound, out)) : null, stride, padding, 1);
    }

    public static Conv1d of(Tensor weight, Tensor bias, int stride, int padding, int dilation) {
        return new Conv1d(Variable.parameter(weight), bias == null ? null : Variable.parameter(bias), stride, padding, dilation);
    }

    @Override
    public Variable forward(Variable x) {
        return forwardWithLora(x, null, null, 0f);
    }

    /** This convolution plus a fused LoRA branch scaling·B·conv(x, A) (A [r, in, k], B [out, r, 1]); a, b null: none. */
    public Variable forwardWithLora(Variable x, Variable a, Variable b, float scaling) {
        if (x.shape().rank() != 3 || x.shape().dim(1) != inChannels()) {
            throw new IllegalArgumentException("Conv1d expects [n, " + inChannels() + ", length], got " + x.shape());
        }
        int n = x.shape().dim(0), len = x.shape().dim(2);
        Variable x4 = ConvOps.reshape(x, n, inChannels(), 1, len);
        Variable y = ConvOps.conv2dLora(x4, weight, bias, a, b, scaling, ConvOps.geometry(x4, 1, kernelSize()[0],
            new int[] {1, stride}, new int[] {0, padding}, new int[] {1, dilation}));
        return ConvOps.reshape(y, n, outChannels(), y.shape().dim(3));
    }

    @Override
    public ConvLayer sibling(int in, int out, boolean pointwise, RandomGenerator rnd) {
        int k = pointwise ? 1 : kernelSize()[0];
        Tensor w = Init.kaimingUniform(rnd, out, in * k).view(out, in, k);
        return pointwise ? new Conv1d(Variable.parameter(w), null, 1, 0, 1) : new Conv1d(Variable.parameter(w), null, stride, padding, dilation);
    }

    @Override
    public Variable weight() {
        return weight;
    }

    /** The bias, or null. */
    public Variable bias() {
        return bias;
    }

    @Override
    public int inChannels() {
        return weight.shape().dim(1);
    }

    @Override
    public int outChannels() {
        return weight.shape().dim(0);
    }

    @Override
    public int[] kernelSize() {
        return new int[] {weight.shape().dim(2)};
    }
}
