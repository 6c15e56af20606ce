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
    /** An op output made inside {@link Tape#reuseBuffers()}: its gradient comes from the same pool. */
    private boolean pooled;

    public Variable(Tensor value, boolean requiresGrad) {
        this.value = value;
        this.requiresGrad = requiresGrad;
    }

    /** An op output, its value (and later its gradient) from the tape's pool when one is in use. */
    static Variable pooledOutput(Shape shape, boolean requiresGrad) {
        Tape t = Tape.current();
        Variable v = new Variable(new Tensor(shape, t.allocate(shape.size())), requiresGrad);
        v.pooled = t.reusing();
        return v;
    }

    /**
     * A second variable over an existing value (no copy), whose gradient comes from the pool when one is in use:
     * the output and the recomputation input of a {@link GradientCheckpoint}.
     */
    static Variable pooledView(Tensor value, boolean requiresGrad) {
        Variable v = new Variable(value, requiresGrad);
        v.pooled = Tape.current().reusing();
        return v;
    }

    boolean pooled() {
        return pooled;
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
        if (grad == null) grad = pooled ? Tape.current().allocate(value.size()) : new float[value.size()];
        return grad;
    }

    /**
     * Adds scale·g into the gradient. When no gradient has arrived yet, g itself, scaled in place, becomes the
     * gradient: the caller hands g over and must not use it again.
     */
    void addGradHandingOver(float[] g, float scale) {
        if (!requiresGrad) throw new IllegalStateException("gradient given to a variable that does not require one " + shape());
        if (g.length != value.size()) throw new IllegalArgumentException("gradient of " + g.length + " elements for " + shape());
        if (grad == null) {
            if (scale != 1f) dev.lora4j.kernel.VectorMath.scale(g, scale, g.length);
            grad = g;
        } else {
            dev.lora4j.kernel.VectorMath.axpy(scale, g, 0, grad, 0, g.length);
        }
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
