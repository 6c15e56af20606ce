package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Ops;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.nn.Linear;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The loop's contracts beyond resuming: evaluation points, metrics.jsonl, SGD, and stopping on a non-finite loss. */
class TrainerTest {
    @TempDir
    Path dir;

    @Test
    void nonFiniteLossStopsBeforeTheStepAndKeepsTheLastGoodCheckpoint() throws Exception {
        Linear m = ResumeTest.model();
        var finite = ResumeTest.loss(m, new int[1], Integer.MAX_VALUE);
        int[] calls = {0};
        // Micro-batch 9 (the first of step 5; gradAccum 2) turns NaN.
        Trainer.LossFunction<Integer> poisoned = batch -> {
            var r = finite.loss(batch);
            return ++calls[0] == 9 ? new Trainer.LossFunction.Result(Ops.scale(r.loss(), Float.NaN), r.tokens()) : r;
        };
        Trainer trainer = new Trainer(ResumeTest.OPTIONS, false).withCheckpoints(dir, 1, false);
        TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
            () -> trainer.fit(ResumeTest.EXAMPLES, List.of(m.weight(), m.bias()), poisoned));
        assertEquals(5, e.step());
        assertTrue(e.getMessage().contains("the last good checkpoint is step 4"), e.getMessage());
        assertEquals("checkpoint-4", Files.readString(dir.resolve(Checkpoint.LATEST)).trim());
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("checkpoint-4/trainable.safetensors"))) {
            assertArrayEquals(f.tensor("p.0").data(), m.weight().data(), 0f, "the NaN never reached the weights");
        }
    }

    @Test
    void evaluatesBeforeEveryNStepsAndAtTheEndAndLogsEverything() throws Exception {
        Linear m = ResumeTest.model();
        int[] evaluations = {0};
        TrainingHistory[] h = new TrainingHistory[1];
        Path log = dir.resolve("metrics.jsonl");
        h[0] = new Trainer(ResumeTest.OPTIONS.withEvalEvery(4), false).withMetricsLog(log)
            .withEvaluator(() -> Map.of("eval_loss", (double) ++evaluations[0]))
            .fit(ResumeTest.EXAMPLES, List.of(m.weight(), m.bias()), ResumeTest.loss(m, new int[1], Integer.MAX_VALUE));
        assertEquals(5, evaluations[0]);
        List<Long> steps = h[0].evals().stream().map(TrainingHistory.Eval::step).toList();
        assertEquals(List.of(0L, 4L, 8L, 12L, 15L), steps, "before, every 4 of 15 steps, and after the last");
        assertEquals(0, h[0].firstEval().orElseThrow().step());
        assertEquals(15, h[0].lastEval().orElseThrow().step());

        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(log)) lines.add(new ObjectMapper().readTree(l));
        assertEquals(15 + 5, lines.size());
        for (int i = 1; i < lines.size(); i++) assertTrue(lines.get(i - 1).get("step").asLong() <= lines.get(i).get("step").asLong());
        assertEquals(h[0].losses().get(0), lines.get(1).get("loss").asDouble(), 1e-12, "step 1 follows the step-0 evaluation");
    }

    @Test
    void sgdStepIsLearningRateTimesTheGradient() throws Exception {
        Linear m = ResumeTest.model(), reference = ResumeTest.model();
        // One example per step, no clipping, constant schedule, no decay: w <- w - lr * dL/dw exactly.
        TrainingOptions sgd = new TrainingOptions(1, 40, 1, 0.1, 0, 0, "constant", 0, 9, 1, "sgd", 0);
        new Trainer(sgd, false).fit(ResumeTest.EXAMPLES, List.of(m.weight(), m.bias()), ResumeTest.loss(m, new int[1], Integer.MAX_VALUE));
        var r = ResumeTest.loss(reference, new int[1], Integer.MAX_VALUE).loss(ResumeTest.EXAMPLES);
        dev.lora4j.autograd.Tape.current().backward(r.loss(), 1f);
        float[] w0 = reference.weight().data(), g = reference.weight().grad(), w1 = m.weight().data();
        for (int i = 0; i < w0.length; i++) assertEquals(w0[i] - 0.1f * g[i], w1[i], 1e-6f, "weight " + i);
    }
}
