package dev.lora4j.train.optim;

import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;

final class OptimTestSupport {
    private OptimTestSupport() {
    }

    static Variable param(float... values) {
        return Variable.parameter(Tensor.of(values.clone(), values.length));
    }

    /** Replaces the gradient with {@code values}, or drops it when null (a step where no gradient arrived). */
    static void setGrad(Variable p, float[] values) {
        if (values == null) {
            p.clearGrad();
            return;
        }
        System.arraycopy(values, 0, p.gradForAccumulation(), 0, values.length);
    }
}
