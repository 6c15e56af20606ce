package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.VectorMath;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;

/**
 * LoRA on a {@link Linear} (weight [out, in]): Peft's lora.Linear. See {@link LoraLinearBase} for the branch,
 * the adapters and merging.
 */
public final class LoraLinear extends LoraLinearBase<Linear> {
    public LoraLinear(Linear base, long dropoutSeed) {
        super(base, dropoutSeed);
    }

    @Override
    protected Variable baseWeight() {
        return baseLayer().weight();
    }

    @Override
    protected Variable baseBias() {
        return baseLayer().bias();
    }

    @Override
    protected boolean baseWeightInOut() {
        return false;
    }

    /** The Linear's weight is [out, in], B·A's own layout. */
    @Override
    protected Tensor arrange(float[] ba, int out, int in, float scaling) {
        VectorMath.scale(ba, scaling, ba.length);
        return Tensor.of(ba, out, in);
    }

    @Override
    protected float[] weightOutIn() {
        return baseLayer().weight().data();
    }

    @Override
    protected Variable baseWithoutBias(Variable x) {
        return Ops.linear(x, baseLayer().weight(), null);
    }

    /** Rows of a [out, in] weight. */
    @Override
    protected void scaleOutputs(float[] weight, float[] factor, boolean divide) {
        int in = inFeatures();
        for (int o = 0; o < factor.length; o++) VectorMath.scale(weight, o * in, in, divide ? 1f / factor[o] : factor[o]);
    }
}
