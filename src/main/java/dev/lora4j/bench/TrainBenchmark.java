package dev.lora4j.bench;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.model.Weights;
import dev.lora4j.model.bert.BertConfig;
import dev.lora4j.model.bert.BertForSequenceClassification;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.nn.GradientCheckpointing;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.QuantizedBase;
import dev.lora4j.train.optim.AdamW;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * LoRA training throughput on a random-weight model of a real model's shape, the same work as the PyTorch
 * reference in {@code ../shared/bench/bench_torch_lora.py}: the same architecture and sizes, LoRA r=8 alpha=16 on
 * the same layers, AdamW (lr 1e-4), random token ids, N optimizer steps of one batch each (activations from the
 * tape's reused buffers, as the trainer runs, unless turned off). Reports the median of
 * the warm steps (every step after the first), as the reference does. The frozen base may be stored narrower
 * ({@link BaseDType}), converted as {@code train --base-dtype} converts it, before LoRA is injected.
 */
public final class TrainBenchmark {

    /** The two shapes of the reference, with their default batch and sequence length. */
    public enum ModelShape {
        SMOLLM2_135M("smollm2-135m", 4, 256),
        MINILM_L6("minilm-l6", 16, 128);

        private final String id;
        private final int batch;
        private final int seq;

        ModelShape(String id, int batch, int seq) {
            this.id = id;
            this.batch = batch;
            this.seq = seq;
        }

        public String id() {
            return id;
        }

        public int defaultBatch() {
            return batch;
        }

        public int defaultSeq() {
            return seq;
        }

        public static ModelShape parse(String s) {
            for (ModelShape m : values()) if (m.id.equals(s)) return m;
            throw new IllegalArgumentException("shape '" + s + "': expected smollm2-135m or minilm-l6");
        }
    }

    /**
     * What to run; batch and seq of 0 take the shape's defaults. {@code gradientCheckpointing} recomputes each
     * layer's activations during backward (see {@link GradientCheckpointing}); {@code baseDType} is how the frozen
     * base is stored.
     */
    public record Options(ModelShape shape, int steps, int batch, int seq, int rank, long seed, boolean reuseBuffers,
                          boolean gradientCheckpointing, BaseDType baseDType) {
        public Options {
            if (baseDType == null) throw new IllegalArgumentException("base dtype must be given (f32 leaves the base as built)");
            if (steps < 2) throw new IllegalArgumentException("--steps must be at least 2 (the first step is the cold one), got " + steps);
            if (batch < 0 || seq < 0 || rank <= 0) throw new IllegalArgumentException("batch, seq and rank must be positive");
            if (batch == 0) batch = shape.defaultBatch();
            if (seq == 0) seq = shape.defaultSeq();
        }
    }

    /**
     * One run. {@code stepS} is the median of the warm steps (seconds); {@code gflopPerStep} counts forward + backward
     * work as {@link FlopCount} describes, and {@code gflops} divides it by the median step. {@code gcS} is the
     * JVM's collection time summed over the warm steps; {@code maxHeapMb} the heap the JVM may grow to (-Xmx, which
     * peak RSS follows); {@code buildS} is building the model and injecting LoRA;
     * {@code startToFirstStepS} is from JVM start to the end of the first optimizer step. Times in seconds.
     * {@code baseDtype} is the frozen base's storage.
     */
    public record Result(String impl, String shape, String baseDtype, int batch, int seq, int threads, int steps, long trainableParams,
                         long totalParams, double buildS, double firstStepS, double startToFirstStepS,
                         double stepS, double tokensPerS, double gflopPerStep, double gflops,
                         double gcS, long peakRssMb, long maxHeapMb, double loss, boolean gradientCheckpointing) {}

    private TrainBenchmark() {}

    /** The decoder of the reference's smollm2-135m shape (its rope_theta 10000 too). */
    public static LlamaConfig smolLm2Config() {
        var c = RandomCheckpoint.smolLm2Config();
        c.put("rope_theta", 10000.0);
        return LlamaConfig.fromJson(c);
    }

    public static Result run(Options o) {
        long t0 = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(o.seed());
        int tokens = o.batch() * o.seq();
        int[] ids = new int[tokens];
        Module root;
        Supplier<Variable> loss;
        double flops;
        int r = o.rank();
        LoraConfig lora;
        if (o.shape() == ModelShape.SMOLLM2_135M) {
            LlamaConfig c = smolLm2Config();
            LlamaForCausalLM m = LlamaForCausalLM.fromWeights(c, Weights.random(o.seed(), 0.02f));
            root = m;
            lora = LoraConfig.of(r, 2f * r, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj");
            for (int i = 0; i < tokens; i++) ids[i] = rnd.nextInt(c.vocabSize());
            // Next-token targets: position t predicts t+1; the last position of each row has none.
            int[] targets = new int[tokens];
            for (int b = 0; b < o.batch(); b++) {
                for (int t = 0; t < o.seq(); t++) targets[b * o.seq() + t] = t + 1 < o.seq() ? ids[b * o.seq() + t + 1] : -100;
            }
            loss = () -> m.loss(ids, o.batch(), o.seq(), null, targets, -100);
            flops = FlopCount.llama(c, o.batch(), o.seq(), r);
        } else {
            BertConfig c = BertConfig.miniLmL6();
            BertForSequenceClassification m = new BertForSequenceClassification(c, Weights.random(o.seed(), 0.02f), "",
                BertForSequenceClassification.newClassifier(c, 2, rnd));
            root = m;
            lora = LoraConfig.of(r, 2f * r, "query,key,value,attention.output.dense,intermediate.dense,output.dense")
                .withModulesToSave(List.of("classifier"));
            for (int i = 0; i < tokens; i++) ids[i] = rnd.nextInt(c.vocabSize());
            int[] mask = new int[tokens];
            Arrays.fill(mask, 1);
            int[] labels = new int[o.batch()];
            for (int b = 0; b < labels.length; b++) labels[b] = rnd.nextInt(2);
            BertModel.Batch in = new BertModel.Batch(ids, new int[tokens], mask, o.batch(), o.seq());
            loss = () -> Ops.crossEntropy(m.forward(in), labels, -100);
            flops = FlopCount.bert(c, o.batch(), o.seq(), r, 2);
        }
        // F32 leaves the model as built (QuantizedBase would swap in frozen copies of the same arrays).
        if (o.baseDType() != BaseDType.F32) QuantizedBase.applyExcept(root, o.baseDType(), lora.modulesToSave());
        LoraModel peft = LoraModel.inject(root, lora, o.seed());
        if (o.gradientCheckpointing()) GradientCheckpointing.enable(root, true);
        root.train(true);
        List<Variable> trainable = peft.trainableVariables();
        AdamW optimizer = new AdamW(trainable, 1e-4, 0.01);
        double buildSeconds = (System.nanoTime() - t0) / 1e9;

        double[] times = new double[o.steps()];
        double gcWarm = 0, startToFirst = 0;
        float last = Float.NaN;
        for (int s = 0; s < o.steps(); s++) {
            long gc0 = gcMillis(), st = System.nanoTime();
            try (var reuse = o.reuseBuffers() ? Tape.current().reuseBuffers() : null) {
                Variable l = loss.get();
                last = l.data()[0];
                Tape.current().backward(l);
            }
            optimizer.step();
            optimizer.zeroGrad();
            times[s] = (System.nanoTime() - st) / 1e9;
            if (s == 0) startToFirst = ManagementFactory.getRuntimeMXBean().getUptime() / 1e3;
            else gcWarm += (gcMillis() - gc0) / 1e3;
        }
        double[] warm = Arrays.copyOfRange(times, 1, times.length);
        Arrays.sort(warm);
        double step = warm[warm.length / 2];
        Tape.current().dropBuffers();
        return new Result("lora4j", o.shape().id(), o.baseDType().name().toLowerCase(java.util.Locale.ROOT), o.batch(), o.seq(), Runtime.getRuntime().availableProcessors(), o.steps(),
            countParameters(root, true), countParameters(root, false), round(buildSeconds), round(times[0]), round(startToFirst),
            round(step), Math.round(tokens / step * 10) / 10.0, round(flops / 1e9), Math.round(flops / step / 1e9 * 10) / 10.0,
            round(gcWarm), LoadBenchmark.peakRssMb(), Runtime.getRuntime().maxMemory() >> 20, round(last), o.gradientCheckpointing());
    }

    private static long countParameters(Module root, boolean trainableOnly) {
        // By identity: a tied lm_head lists the embedding table under a second path.
        Set<Variable> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        long n = 0;
        for (Variable v : root.namedParameters().values()) {
            if (seen.add(v) && (!trainableOnly || v.requiresGrad())) n += v.size();
        }
        return n;
    }

    private static long gcMillis() {
        long ms = 0;
        for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) ms += Math.max(0, b.getCollectionTime());
        return ms;
    }

    private static double round(double x) {
        return Math.round(x * 1e4) / 1e4;
    }
}
