package dev.lora4j.nn.conv;

import dev.lora4j.autograd.ConvOps;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Init;
import dev.lora4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/**
 * torch.nn.Conv2d (groups 1): weight [out, in, kh, kw], optional bias [out], stride, padding and dilation per
 * axis (height, width). Parameters {@code weight}, {@code bias}.
 */
public final class Conv2d extends ConvLayer {
    private final Variable weight;
    private final Variable bias;
    private final int[] stride;
    private final int[] padding;
    private final int[] dilation;

    public Conv2d(Variable weight, Variable bias, int[] stride, int[] padding, int[] dilation) {
        if (weight.shape().rank() != 4) throw new IllegalArgumentException("Conv2d weight must be [out, in, kh, kw], got " + weight.shape());
        if (bias != null && bias.size() != weight.shape().dim(0)) throw new IllegalArgumentException("Conv2d bias " + bias.shape() + " for weight " + weight.shape());
        this.weight = parameter("weight", weight);
        this.bias = bias == null ? null : parameter("bias", bias);
        this.stride = pair("stride", stride);
        this.padding = pair("padding", padding);
        this.dilation = pair("dilation", dilation);
    }

    static int[] pair(String what, int[] v) {
        if (v.length != 2) throw new IllegalArgumentException("Conv2d " + what + " needs (height, width), got " + v.length + " values");
        return v.clone();
    }

    /** PyTorch's default initialisation (kaiming_uniform a=√5 for the weight: U(±1/√fan_in), and the same bound for the bias). */
    public static Conv2d random(int in, int out, int kernel, int stride, int padding, boolean bias, RandomGenerator rnd) {
        int fanIn = in * kernel * kernel;
        float bound = (float) (1 / Math.sqrt(fanIn));
        return new Conv2d(Variable.parameter(Init.uniform(rnd, bound, out, in, kernel, kernel)),
            bias ? Variable.parameter(Init.uniform(rnd, bound, out)) : null,
            new int[] {stride, stride}, new int[] {padding, padding}, new int[] {1, 1});
    }

    public static Conv2d of(Tensor weight, Tensor bias, int[] stride, int[] padding, int[] dilation) {
        return new Conv2d(Variable.parameter(weight), bias == null ? null : Variable.parameter(bias), stride, padding, dilation);
    }

    @Override
    public Variable forward(Variable x) {
        int[] k = kernelSize();
        if (x.shape().rank() != 4 || x.shape().dim(1) != inChannels()) {
            throw new IllegalArgumentException("Conv2d expects [n, " + inChannels() + ", h, w], got " + x.shape());
        }
        return ConvOps.conv2d(x, weight, bias, ConvOps.geometry(x, k[0], k[1], stride, padding, dilation));
    }

    /**
     * This convolution plus a LoRA branch scaling·B·conv(x, A) computed in one pass over the unfolded input
     * (A [r, in, kh, kw] with this layer's geometry, B [out, r, 1, 1]).
     */
    public Variable forwardWithLora(Variable x, Variable a, Variable b, float scaling) {
        int[] k = kernelSize();
        return ConvOps.conv2dLora(x, weight, bias, a, b, scaling, ConvOps.geometry(x, k[0], k[1], stride, padding, dilation));
    }

    @Override
    public ConvLayer sibling(int in, int out, boolean pointwise, RandomGenerator rnd) {
        int[] k = pointwise ? new int[] {1, 1} : kernelSize();
        Tensor w = Init.kaimingUniform(rnd, out, in * k[0] * k[1]).view(out, in, k[0], k[1]);
        return pointwise
            ? new Conv2d(Variable.parameter(w), null, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1})
            : new Conv2d(Variable.parameter(w), null, stride, padding, dilation);
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
        return new int[] {weight.shape().dim(2), weight.shape().dim(3)};
    }

    public int[] stride() {
        return stride.clone();
    }
}
