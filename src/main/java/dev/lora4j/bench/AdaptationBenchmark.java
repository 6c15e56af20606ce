package dev.lora4j.bench;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.data.synthetic.ShapeImages;
import dev.lora4j.data.synthetic.SymbolSequences;
import dev.lora4j.model.StateDict;
import dev.lora4j.model.resnet.ResNet;
import dev.lora4j.model.resnet.ResNetConfig;
import dev.lora4j.model.rnn.LstmClassifier;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.TrainableParameters;
import dev.lora4j.tensor.Tensor;
import dev.lora4j.train.optim.AdamW;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * LoRA beyond transformers, end to end: pretrain a network in full on a generated task, then adapt it to a
 * shifted task three ways (LoRA, full fine-tuning, training the head only) from the same pretrained weights,
 * and compare test accuracy, trainable parameters and training time. Two settings:
 * <ul>
 *   <li>{@link #cnn}: a small ResNet on rendered shapes; the shift is four new shape classes, rotated freely and
 *       noisier. LoRA on every 3x3 convolution, a new head trained in full (modules_to_save).</li>
 *   <li>{@link #lstm}: an embedding + bidirectional LSTM classifier counting symbols; the shift keeps the rule but
 *       swaps the alphabet. LoRA on every LSTM matrix, head trained in full.</li>
 * </ul>
 * Everything is seeded; the LoRA adapter and the pretrained model are written to {@code out} so that
 * {@code lora4j inspect} can show them.
 */
public final class AdaptationBenchmark {
    /** How the shifted task is learned. */
    public enum Method { LORA, FULL, HEAD }

    /** One method's outcome. */
    public record Result(Method method, double accuracy, long trainable, long total, double seconds, double mergedAccuracy) {
        public double percent() {
            return 100.0 * trainable / total;
        }
    }

    /** The whole run: the pretraining, the shifted task before adaptation (-1 when its classes are new), and each method. */
    public record Report(String name, double pretrainAccuracy, double pretrainSeconds, long parameters, double shiftedBefore,
                         List<Result> results) {}

    /** Sizes and schedule; {@link #defaults} keeps each demo well under a minute on 2 cores. */
    public record Options(int trainCount, int testCount, int pretrainEpochs, int adaptCount, int adaptEpochs, int batch,
                          int rank, float alpha, long seed) {
        public static Options defaults() {
            return new Options(2000, 400, 6, 400, 10, 32, 4, 8, 42);
        }
    }

    private AdaptationBenchmark() {}

    /** What the loop needs of a model on a data set: logits for a batch of example indices, and the labels. */
    private interface Task {
        Variable logits(int[] index);

        int label(int i);

        int count();
    }

    // ---- CNN --------------------------------------------------------------------------------------------

    private static final int IMAGE = 16;

    public static Report cnn(Options o, Path out, PrintStream log) throws IOException {
        ResNetConfig config = ResNetConfig.small(8, ShapeImages.BASE.size());
        ShapeImages.Set pre = ShapeImages.generate(ShapeImages.BASE, o.trainCount(), IMAGE, 0.25, 0.1, o.seed());
        ShapeImages.Set preTest = ShapeImages.generate(ShapeImages.BASE, o.testCount(), IMAGE, 0.25, 0.1, o.seed() + 1);
        ShapeImages.Set shift = ShapeImages.generate(ShapeImages.SHIFTED, o.adaptCount(), IMAGE, Math.PI, 0.25, o.seed() + 2);
        ShapeImages.Set shiftTest = ShapeImages.generate(ShapeImages.SHIFTED, o.testCount(), IMAGE, Math.PI, 0.25, o.seed() + 3);

        ResNet base = new ResNet(config, o.seed());
        log.printf(Locale.ROOT, "cnn: ResNet (3x3 stem, widths 8/16/32, one basic block per stage), %,d parameters; %d shapes %dx%d%n",
            base.parameterCount(), ShapeImages.BASE.size(), IMAGE, IMAGE);
        long t0 = System.nanoTime();
        base.train(true);
        base.setTrainable(true);
        train(images(base, pre), StateDict.trainable(base), o.pretrainEpochs(), o.batch(), 3e-3, o.seed(), log, "pretrain");
        double pretrainSeconds = (System.nanoTime() - t0) / 1e9;
        base.train(false);
        double preAcc = evaluate(images(base, preTest), o.batch());
        log.printf(Locale.ROOT, "pretrained on %s: test accuracy %.1f%% (%.1f s)%n", names(ShapeImages.BASE), 100 * preAcc, pretrainSeconds);
        StateDict.save(base, out.resolve("base.safetensors"));

        List<Result> results = new ArrayList<>();
        for (Method m : Method.values()) {
            ResNet net = new ResNet(config, o.seed());
            StateDict.copy(base, net);
            // The new classes get a new head in every method.
            net.replace("fc", Linear.random(config.widths()[config.widths().length - 1], ShapeImages.SHIFTED.size(), true, new SplittableRandom(o.seed() + 7)));
            results.add(adapt(m, net, "conv1,conv2", () -> images(net, shift), () -> images(net, shiftTest), o, out, log));
        }
        return new Report("cnn", preAcc, pretrainSeconds, base.parameterCount(), -1, results);
    }

    private static Task images(ResNet net, ShapeImages.Set set) {
        return new Task() {
            @Override
            public Variable logits(int[] index) {
                return net.forward(Variable.constant(Tensor.of(set.images(index), index.length, 1, IMAGE, IMAGE)));
            }

            @Override
            public int label(int i) {
                return set.labels()[i];
            }

            @Override
            public int count() {
                return set.count();
            }
        };
    }

    // ---- LSTM -------------------------------------------------------------------------------------------

    private static final int SEQ = 16;

    public static Report lstm(Options o, Path out, PrintStream log) throws IOException {
        LstmClassifier.Config config = new LstmClassifier.Config(SymbolSequences.VOCAB, 16, 24, 1, true, SymbolSequences.BASE_SIGNALS.length);
        SymbolSequences.Set pre = SymbolSequences.generate(SymbolSequences.BASE_SIGNALS, o.trainCount(), SEQ, o.seed());
        SymbolSequences.Set preTest = SymbolSequences.generate(SymbolSequences.BASE_SIGNALS, o.testCount(), SEQ, o.seed() + 1);
        SymbolSequences.Set shift = SymbolSequences.generate(SymbolSequences.SHIFTED_SIGNALS, o.adaptCount(), SEQ, o.seed() + 2);
        SymbolSequences.Set shiftTest = SymbolSequences.generate(SymbolSequences.SHIFTED_SIGNALS, o.testCount(), SEQ, o.seed() + 3);

        LstmClassifier base = new LstmClassifier(config, o.seed());
        log.printf(Locale.ROOT, "lstm: embedding 16 + bidirectional LSTM 24 + mean over time + linear, %,d parameters; sequences of %d symbols%n",
            base.parameterCount(), SEQ);
        long t0 = System.nanoTime();
        base.setTrainable(true);
        train(sequences(base, pre), StateDict.trainable(base), o.pretrainEpochs(), o.batch(), 1e-2, o.seed(), log, "pretrain");
        double pretrainSeconds = (System.nanoTime() - t0) / 1e9;
        double preAcc = evaluate(sequences(base, preTest), o.batch());
        double before = evaluate(sequences(base, shiftTest), o.batch());
        log.printf(Locale.ROOT, "pretrained on the majority of symbols %s: test accuracy %.1f%% (%.1f s); on the swapped alphabet %s: %.1f%%%n",
            java.util.Arrays.toString(SymbolSequences.BASE_SIGNALS), 100 * preAcc, pretrainSeconds,
            java.util.Arrays.toString(SymbolSequences.SHIFTED_SIGNALS), 100 * before);
        StateDict.save(base, out.resolve("base.safetensors"));

        List<Result> results = new ArrayList<>();
        for (Method m : Method.values()) {
            LstmClassifier net = new LstmClassifier(config, o.seed());
            StateDict.copy(base, net);
            results.add(adapt(m, net, "lstm", () -> sequences(net, shift), () -> sequences(net, shiftTest), o, out, log));
        }
        return new Report("lstm", preAcc, pretrainSeconds, base.parameterCount(), before, results);
    }

    private static Task sequences(LstmClassifier net, SymbolSequences.Set set) {
        return new Task() {
            @Override
            public Variable logits(int[] index) {
                return net.forward(set.tokens(index), index.length, set.length());
            }

            @Override
            public int label(int i) {
                return set.labels()[i];
            }

            @Override
            public int count() {
                return set.count();
            }
        };
    }

    // ---- the three methods, one loop ----------------------------------------------------------------------

    private static Result adapt(Method m, Module net, String loraTargets, Supplier<Task> train, Supplier<Task> test, Options o, Path out,
                                PrintStream log) throws IOException {
        LoraModel lora = null;
        double lr;
        switch (m) {
            case FULL -> {
                net.setTrainable(true);
                net.train(true);
                lr = 2e-3;
            }
            case HEAD -> {
                net.setTrainable(false);
                net.get("fc").setTrainable(true);
                // Frozen features include frozen batch statistics: evaluation mode.
                net.train(false);
                lr = 1e-2;
            }
            case LORA -> {
                lora = LoraModel.inject(net, LoraConfig.of(o.rank(), o.alpha(), loraTargets).withModulesToSave(List.of("fc")), o.seed());
                // Batch statistics stay frozen too: the adapter file holds only A, B and the head, so the base must not drift.
                net.train(false);
                lr = 1e-2;
            }
            default -> throw new IllegalStateException();
        }
        TrainableParameters count = TrainableParameters.of(net);
        long t0 = System.nanoTime();
        train(train.get(), StateDict.trainable(net), o.adaptEpochs(), o.batch(), lr, o.seed() + 11, log, m.name().toLowerCase(Locale.ROOT));
        double seconds = (System.nanoTime() - t0) / 1e9;
        net.train(false);
        double acc = evaluate(test.get(), o.batch());
        double merged = Double.NaN;
        if (lora != null) {
            // Peft has no task type for image or sequence classifiers built by hand; null is what it writes then.
            PeftAdapterWriter.save(lora, "default", out.resolve("lora"), null, "base.safetensors");
            lora.merge();
            merged = evaluate(test.get(), o.batch());
            lora.unmerge();
        }
        Result r = new Result(m, acc, count.trainable(), count.total(), seconds, merged);
        log.printf(Locale.ROOT, "%-5s accuracy %5.1f%%  trainable %,9d of %,9d (%6.2f%%)  %.1f s%s%n", m, 100 * acc, r.trainable(), r.total(),
            r.percent(), seconds, lora == null ? "" : String.format(Locale.ROOT, "  (merged: %.1f%%)", 100 * merged));
        return r;
    }

    private static void train(Task task, List<Variable> params, int epochs, int batch, double lr, long seed, PrintStream log, String label) {
        AdamW opt = new AdamW(params, lr, 0.0);
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = task.count();
        int[] order = java.util.stream.IntStream.range(0, n).toArray();
        for (int epoch = 0; epoch < epochs; epoch++) {
            for (int i = n - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            double lossSum = 0;
            int batches = 0;
            for (int from = 0; from < n; from += batch) {
                int[] index = java.util.Arrays.copyOfRange(order, from, Math.min(n, from + batch));
                int[] labels = new int[index.length];
                for (int i = 0; i < index.length; i++) labels[i] = task.label(index[i]);
                Variable loss = Ops.crossEntropy(task.logits(index), labels, -100);
                lossSum += loss.data()[0];
                batches++;
                Tape.current().backward(loss);
                opt.step();
                opt.zeroGrad();
            }
            log.printf(Locale.ROOT, "  %s epoch %d/%d: loss %.4f%n", label, epoch + 1, epochs, lossSum / batches);
        }
    }

    private static double evaluate(Task task, int batch) {
        int correct = 0, n = task.count();
        try (var s = Tape.noGrad()) {
            for (int from = 0; from < n; from += batch) {
                int[] index = java.util.stream.IntStream.range(from, Math.min(n, from + batch)).toArray();
                Variable logits = task.logits(index);
                int classes = logits.shape().cols();
                for (int i = 0; i < index.length; i++) {
                    int best = 0;
                    for (int c = 1; c < classes; c++) if (logits.data()[i * classes + c] > logits.data()[i * classes + best]) best = c;
                    if (best == task.label(index[i])) correct++;
                }
            }
        }
        return (double) correct / n;
    }

    private static String names(List<ShapeImages.Shape> shapes) {
        return shapes.stream().map(ShapeImages.Shape::name).toList().toString();
    }
}
