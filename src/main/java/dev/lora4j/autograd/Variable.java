package dev.lora4j.autograd;

import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;

/**
 * A tensor that takes part in differentiation: its value, and a gradient buffer allocated only when a
 * gradient first arrives. A variable that does not require a gradient (a frozen weight, an input) never
 * gets one allocated, which is what makes LoRA's backward cheap: ops skip the work for such inputs.
 */
public final class Variable {
    private final Tensor value;
    private boolean requiresGrad;
    private float[] grad;

    public Variable(Tensor value, boolean requiresGrad) {
        this.value = value;
        this.requiresGrad = requiresGrad;
    }

    /** A constant: data that is never differentiated (inputs, targets). */
    public static Variable constant(Tensor value) {
        return new Variable(value, false);
    }

    /** A trainable parameter. */
    public static Variable parameter(Tensor value) {
        return new Variable(value, true);
    }

    public Tensor value() {
        return value;
    }

    public float[] data() {
        return value.data();
    }

    public Shape shape() {
        return value.shape();
    }

    public int size() {
        return value.size();
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Freezing drops any gradient already held, so a frozen weight costs no gradient memory. */
    public void setRequiresGrad(boolean requiresGrad) {
        this.requiresGrad = requiresGrad;
        if (!requiresGrad) grad = null;
    }

    /** The gradient, or null when none has arrived (or the variable is frozen). */
    public float[] grad() {
        return grad;
    }

    /** The gradient buffer to accumulate into, allocated zeroed on first use. Only for variables that require it. */
    public float[] gradForAccumulation() {
        if (!requiresGrad) throw new IllegalStateException("gradient requested for a variable that does not require one " + shape());
        if (grad == null) grad = new float[value.size()];
        return grad;
    }

    public void zeroGrad() {
        if (grad != null) java.util.Arrays.fill(grad, 0f);
    }

    /** Releases the gradient buffer (after an optimizer step, for activations). */
    public void clearGrad() {
        grad = null;
    }

    @Override
    public String toString() {
        return "Variable" + shape() + (requiresGrad ? " (requires grad)" : "");
    }
}
