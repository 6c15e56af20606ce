package dev.lora4j.nn;

import dev.lora4j.autograd.ConvOps;
import dev.lora4j.autograd.Variable;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * torch.nn.BatchNorm2d (also right for BatchNorm1d's [n, c, l]): parameters {@code weight}, {@code bias} [c];
 * buffers {@code running_mean}, {@code running_var}, {@code num_batches_tracked}, which are state, not
 * parameters (never trained, not counted), but belong in a checkpoint. In training mode it normalises with
 * batch statistics and updates the running ones; in evaluation mode it uses the running statistics.
 */
public final class BatchNorm2d extends Module {
    private final Variable weight;
    private final Variable bias;
    private final float[] runningMean;
    private final float[] runningVar;
    private long numBatchesTracked;
    private final float momentum;
    private final float eps;

    public BatchNorm2d(Variable weight, Variable bias, float[] runningMean, float[] runningVar, float momentum, float eps) {
        int c = runningMean.length;
        if (runningVar.length != c || weight.size() != c || bias.size() != c) {
            throw new IllegalArgumentException("BatchNorm2d: weight " + weight.shape() + ", bias " + bias.shape() + ", running stats "
                + c + "/" + runningVar.length + " must all have one value per channel");
        }
        this.weight = parameter("weight", weight);
        this.bias = parameter("bias", bias);
        this.runningMean = runningMean;
        this.runningVar = runningVar;
        this.momentum = momentum;
        this.eps = eps;
    }

    /** torch's initial state: weight 1, bias 0, running mean 0, running variance 1; momentum 0.1, eps 1e-5. */
    public static BatchNorm2d fresh(int channels) {
        float[] var = new float[channels];
        java.util.Arrays.fill(var, 1f);
        return new BatchNorm2d(Variable.parameter(Init.constant(1f, channels)), Variable.parameter(Tensor.zeros(channels)),
            new float[channels], var, 0.1f, 1e-5f);
    }

    public Variable forward(Variable x) {
        if (x.shape().rank() < 2 || x.shape().dim(1) != runningMean.length) {
            throw new IllegalArgumentException("BatchNorm2d(" + runningMean.length + ") got input " + x.shape());
        }
        if (training()) numBatchesTracked++;
        return ConvOps.batchNorm(x, weight, bias, runningMean, runningVar, training(), momentum, eps);
    }

    /** The buffers under torch's names; the tensors share the live arrays, so loading writes through. */
    public Map<String, Tensor> buffers() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("running_mean", Tensor.of(runningMean, runningMean.length));
        m.put("running_var", Tensor.of(runningVar, runningVar.length));
        m.put("num_batches_tracked", Tensor.of(new float[] {numBatchesTracked}));
        return m;
    }

    /** Sets num_batches_tracked (read from a checkpoint). */
    public void setNumBatchesTracked(long n) {
        numBatchesTracked = n;
    }

    public Variable weight() {
        return weight;
    }

    public Variable bias() {
        return bias;
    }

    public int channels() {
        return runningMean.length;
    }
}
