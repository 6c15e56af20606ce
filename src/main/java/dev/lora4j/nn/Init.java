package dev.lora4j.nn;

import dev.lora4j.tensor.Shape;
import dev.lora4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/** Weight initialisers (the distributions PyTorch and Peft use), all from a caller-supplied generator. */
public final class Init {
    private Init() {}

    public static Tensor uniform(RandomGenerator rnd, float bound, int... dims) {
        Tensor t = new Tensor(Shape.of(dims), new float[Shape.of(dims).size()]);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) d[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        return t;
    }

    public static Tensor normal(RandomGenerator rnd, float std, int... dims) {
        Tensor t = new Tensor(Shape.of(dims), new float[Shape.of(dims).size()]);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) d[i] = (float) (rnd.nextGaussian() * std);
        return t;
    }

    public static Tensor constant(float value, int... dims) {
        Tensor t = new Tensor(Shape.of(dims), new float[Shape.of(dims).size()]);
        java.util.Arrays.fill(t.data(), value);
        return t;
    }

    /**
     * PyTorch's kaiming_uniform_(w, a=√5) for a [out, in] weight, which is what nn.Linear and Peft's LoRA A use:
     * bound = gain·√(3/fan_in) with gain = √(2/(1+a²)), i.e. bound = 1/√fan_in.
     */
    public static Tensor kaimingUniform(RandomGenerator rnd, int out, int in) {
        double gain = Math.sqrt(2.0 / (1 + 5.0));
        float bound = (float) (gain * Math.sqrt(3.0 / in));
        return uniform(rnd, bound, out, in);
    }
}
