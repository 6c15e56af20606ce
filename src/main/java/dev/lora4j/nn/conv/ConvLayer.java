package dev.lora4j.nn.conv;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Module;
import java.util.random.RandomGenerator;

/**
 * Anything that stands where a convolution stands: a plain {@link Conv2d} / {@link Conv1d} or a LoRA wrapper of
 * one. Input and output are channel-first ([n, c, h, w] or [n, c, l]).
 */
public abstract class ConvLayer extends Module {
    public abstract Variable forward(Variable x);

    public abstract int inChannels();

    public abstract int outChannels();

    /** Kernel extent per spatial axis: {kh, kw} for 2-D, {k} for 1-D. */
    public abstract int[] kernelSize();

    /**
     * A bias-free convolution of the same kind from {@code in} to {@code out} channels, with this layer's
     * kernel, stride, padding and dilation, or a 1x1 one with stride 1 when {@code pointwise}: Peft's LoRA A and
     * B of a convolution.
     */
    public abstract ConvLayer sibling(int in, int out, boolean pointwise, RandomGenerator rnd);

    /** The weight [out, in, kernel...]. */
    public abstract Variable weight();
}
