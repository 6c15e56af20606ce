package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;

/**
 * DoRA's trained magnitude of one adapter: one value per output of the wrapped layer, the norm that output's
 * weight row is rescaled to. Its parameter is called {@code weight}, as in Peft's DoraLinearLayer, so the path
 * reads {@code q_proj.lora_magnitude_vector.default.weight}; Peft saves it without the {@code .weight}.
 */
final class DoraMagnitude extends Module {
    private final Variable weight;

    DoraMagnitude(float[] norms) {
        this.weight = parameter("weight", Variable.parameter(Tensor.of(norms, norms.length)));
    }

    Variable weight() {
        return weight;
    }

    /**
     * ‖W[o,:] + delta[o,:]‖ for each output row o of [out, in] matrices: the norm DoRA divides by. Computed in
     * double because it is a sum of up to {@code in} squares that the magnitude is compared against.
     */
    static float[] rowNorms(float[] weightOutIn, float[] deltaOutIn, int out, int in) {
        float[] n = new float[out];
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = o * in, end = i + in; i < end; i++) {
                double v = weightOutIn[i] + (double) deltaOutIn[i];
                s += v * v;
            }
            n[o] = (float) Math.sqrt(s);
        }
        return n;
    }
}
