package dev.lora4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of the ops BERT heads and LoRA embeddings use: tanh, pooling, normalisation, column gather. */
class PoolingOpsGradientTest {
    final Random rnd = new Random(5);

    float[] probe(int n) {
        return GradCheck.randn(rnd, n, 1.0);
    }

    @Test
    void tanh() {
        Variable x = GradCheck.param(rnd, 1.2, 3, 7);
        float[] r = probe(21);
        GradCheck.of("tanh", () -> Ops.dot(Ops.tanh(x), r)).wrt("x", x).step(5e-3).run();
        try (var s = Tape.noGrad()) {
            float[] y = Ops.tanh(x).data();
            for (int i = 0; i < y.length; i++) assertEquals(Math.tanh(x.data()[i]), y[i], 1e-6);
        }
    }

    @Test
    void meanPoolWithPadding() {
        Variable x = GradCheck.param(rnd, 1.0, 2 * 4, 5);
        int[] mask = {1, 1, 1, 0, 1, 0, 0, 0};
        float[] r = probe(10);
        GradCheck.of("meanPool", () -> Ops.dot(Ops.meanPool(x, 2, 4, mask), r)).wrt("x", x).run();
        try (var s = Tape.noGrad()) {
            float[] y = Ops.meanPool(x, 2, 4, mask).data();
            for (int d = 0; d < 5; d++) {
                float[] xd = x.data();
                assertEquals((xd[d] + xd[5 + d] + xd[10 + d]) / 3, y[d], 1e-6);
                assertEquals(xd[20 + d], y[5 + d], 1e-6);
            }
        }
    }

    @Test
    void l2Normalize() {
        Variable x = GradCheck.param(rnd, 1.0, 3, 6);
        float[] r = probe(18);
        GradCheck.of("l2Normalize", () -> Ops.dot(Ops.l2Normalize(x), r)).wrt("x", x).step(3e-3).run();
        try (var s = Tape.noGrad()) {
            float[] y = Ops.l2Normalize(x).data();
            for (int row = 0; row < 3; row++) {
                double n = 0;
                for (int c = 0; c < 6; c++) n += y[row * 6 + c] * y[row * 6 + c];
                assertEquals(1.0, n, 1e-5);
            }
        }
    }

    @Test
    void embeddingColumnsReadsATransposedTable() {
        Variable table = GradCheck.param(rnd, 1.0, 3, 10);  // [rank, vocab], as LoRA's embedding A
        int[] ids = {4, 0, 4, 9};
        float[] r = probe(12);
        GradCheck.of("embeddingColumns", () -> Ops.dot(Ops.embeddingColumns(table, ids), r)).wrt("table", table).run();
        try (var s = Tape.noGrad()) {
            float[] y = Ops.embeddingColumns(table, ids).data();
            assertArrayEquals(new float[] {table.data()[4], table.data()[14], table.data()[24]}, java.util.Arrays.copyOfRange(y, 0, 3));
        }
    }

    @Test
    void selectRowsGathersAndScattersBack() {
        Variable x = GradCheck.param(rnd, 1.0, 6, 4);
        int[] rows = {5, 0, 5};
        float[] r = probe(12);
        GradCheck.of("selectRows", () -> Ops.dot(Ops.selectRows(x, rows), r)).wrt("x", x).run();
    }
}
