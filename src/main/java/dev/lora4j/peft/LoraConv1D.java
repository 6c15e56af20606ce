package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.tensor.Tensor;

/**
 * LoRA on a transformers Conv1D (GPT-2's c_attn, c_proj, c_fc), which is Peft's lora.Linear with
 * fan_in_fan_out=True: the branch, keys and shapes are a Linear target's (A [r, in], B [out, r]); only merging
 * differs, because the base weight is stored [in, out]: W += scaling·(B·A)ᵀ.
 */
public final class LoraConv1D extends LoraLinearBase<Conv1D> {
    public LoraConv1D(Conv1D base, long dropoutSeed) {
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
        return true;
    }

    /** scaling·(B·A)ᵀ, [in, out]: the Conv1D weight's layout. */
    @Override
    protected Tensor arrange(float[] ba, int out, int in, float scaling) {
        float[] delta = new float[in * out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) delta[i * out + o] = scaling * ba[o * in + i];
        }
        return Tensor.of(delta, in, out);
    }

    /** The [in, out] weight transposed (a copy). */
    @Override
    protected float[] weightOutIn() {
        int in = inFeatures(), out = outFeatures();
        float[] w = baseLayer().weight().data(), t = new float[out * in];
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) t[o * in + i] = w[i * out + o];
        }
        return t;
    }

    @Override
    protected Variable baseWithoutBias(Variable x) {
        return Ops.linearInOut(x, baseLayer().weight(), null);
    }

    /** Columns of a [in, out] weight. */
    @Override
    protected void scaleOutputs(float[] weight, float[] factor, boolean divide) {
        int in = inFeatures(), out = outFeatures();
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) weight[i * out + o] = divide ? weight[i * out + o] / factor[o] : weight[i * out + o] * factor[o];
        }
    }
}
