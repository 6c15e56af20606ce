package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.model.bert.BertCheckpoint;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Batched embeddings: unit vectors, independent of batch composition, and similar texts closer than unrelated ones. */
class SentenceEmbeddingsTest {
    static double cos(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    @Test
    void embedsLikeSentenceTransformers() throws Exception {
        SentenceEmbeddings e = new SentenceEmbeddings(BertCheckpoint.builtin("all-MiniLM-L6-v2"), 128);
        List<String> texts = List.of("A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today.",
            "a", "A man is playing a guitar.");
        List<float[]> v = e.embed(texts, 2);
        assertEquals(5, v.size());
        for (float[] x : v) assertEquals(1.0, cos(x, x), 1e-5, "unit length");
        // Padding inside a batch must not change a text's vector: the same text in another batch position.
        assertArrayEquals(v.get(0), v.get(4), 1e-5f);
        List<float[]> alone = e.embed(List.of("Someone plays the guitar."), 1);
        assertArrayEquals(v.get(1), alone.get(0), 1e-5f);
        assertTrue(cos(v.get(0), v.get(1)) > cos(v.get(0), v.get(2)) + 0.3,
            "paraphrase " + cos(v.get(0), v.get(1)) + " vs unrelated " + cos(v.get(0), v.get(2)));
    }
}
