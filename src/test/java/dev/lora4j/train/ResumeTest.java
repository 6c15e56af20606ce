package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Linear;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run killed mid-way and resumed from its last checkpoint ends exactly where an uninterrupted run ends. */
class ResumeTest {
    static final int IN = 4, OUT = 3, N = 40;
    static final float[] X = new float[N * IN], Y = new float[N * OUT];

    static {
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < X.length; i++) X[i] = (float) r.nextGaussian();
        for (int i = 0; i < Y.length; i++) Y[i] = (float) r.nextGaussian();
    }

    static final TrainingOptions OPTIONS = new TrainingOptions(3, 4, 2, 0.05, 0.01, 2, "linear", 1.0, 9);
    static final List<Integer> EXAMPLES = IntStream.range(0, N).boxed().toList();

    static Linear model() {
        return Linear.random(IN, OUT, true, new SplittableRandom(2));
    }

    static Trainer.LossFunction<Integer> loss(Linear m, int[] calls, int failAfter) {
        return batch -> {
            if (++calls[0] > failAfter) throw new IllegalStateException("killed");
            float[] x = new float[batch.size() * IN], y = new float[batch.size() * OUT];
            for (int b = 0; b < batch.size(); b++) {
                System.arraycopy(X, batch.get(b) * IN, x, b * IN, IN);
                System.arraycopy(Y, batch.get(b) * OUT, y, b * OUT, OUT);
            }
            Variable out = m.forward(Variable.constant(Tensor.of(x, batch.size(), IN)));
            return new Trainer.LossFunction.Result(Ops.mse(out, y), batch.size());
        };
    }

    @Test
    void killedRunResumesToTheSameResult(@TempDir Path dir) throws Exception {
        Linear uninterrupted = model();
        TrainingHistory full = new Trainer(OPTIONS, false).fit(EXAMPLES, List.of(uninterrupted.weight(), uninterrupted.bias()),
            loss(uninterrupted, new int[1], Integer.MAX_VALUE));
        assertEquals(15, full.losses().size(), "3 epochs x 5 steps of 2 micro-batches");

        Linear killed = model();
        Trainer first = new Trainer(OPTIONS, false).withCheckpoints(dir, 3, false);
        assertThrows(IllegalStateException.class, () -> first.fit(EXAMPLES, List.of(killed.weight(), killed.bias()),
            loss(killed, new int[1], 17)));  // dies in step 9, after the checkpoint of step 6
        assertEquals("checkpoint-6", Files.readString(dir.resolve(Checkpoint.LATEST)).trim());

        Linear resumed = model();
        TrainingHistory rest = new Trainer(OPTIONS, false).withCheckpoints(dir, 3, true)
            .fit(EXAMPLES, List.of(resumed.weight(), resumed.bias()), loss(resumed, new int[1], Integer.MAX_VALUE));
        assertArrayEquals(uninterrupted.weight().data(), resumed.weight().data(), 0f, "bit for bit");
        assertArrayEquals(uninterrupted.bias().data(), resumed.bias().data(), 0f);
        assertEquals(full.losses(), rest.losses(), "the resumed history continues the interrupted one");
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().equals("checkpoint-6")), "older checkpoints are removed");
        }
    }

    @Test
    void maxStepsStopsEarly() throws Exception {
        Linear m = model();
        TrainingHistory h = new Trainer(OPTIONS.withMaxSteps(7), false).fit(EXAMPLES, List.of(m.weight(), m.bias()),
            loss(m, new int[1], Integer.MAX_VALUE));
        assertEquals(7, h.losses().size(), "7 optimizer steps, though 3 epochs would be 15");
        assertThrows(IllegalArgumentException.class, () -> OPTIONS.withMaxSteps(-1));
    }
}
