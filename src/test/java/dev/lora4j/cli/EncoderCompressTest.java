package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.lora4j.data.LabelledText;
import dev.lora4j.data.TopicsDataset;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.train.SentenceEmbeddings;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `compress` on the built-in all-MiniLM-L6-v2: at full rank the embeddings do not move and the written BERT directory
 * embeds as the original; at a low rank they do, and the parameter count is the factors'. Only the query projections
 * are compressed, to keep the SVDs quick.
 */
class EncoderCompressTest {
    private static final Pattern COSINE = Pattern.compile("mean cosine to the original ([0-9.]+)");
    private static final Pattern PARAMS = Pattern.compile("parameters ([0-9,]+) -> ([0-9,]+)");

    @TempDir
    Path tmp;

    @Test
    void fullRankKeepsTheEmbeddingsAndLowRankMovesThem() throws Exception {
        Path full = tmp.resolve("full");
        String s = CliRunner.ok("compress", "--model", "all-MiniLM-L6-v2", "--rank", "384", "--target", "query", "--sentences", "8", "--out", full.toString()).out();
        assertEquals(1.0, number(COSINE, s, 1), 1e-4, s);
        long before = (long) number(PARAMS, s, 1);
        assertEquals(6 * 384 * 384, before, "6 query matrices of 384 x 384: " + s);
        assertEquals(before, (long) number(PARAMS, s, 2), "full rank keeps them dense");

        List<String> texts = TopicsDataset.test().subList(0, 8).stream().map(LabelledText::text).toList();
        List<float[]> original = new SentenceEmbeddings(BertCheckpoint.load("all-MiniLM-L6-v2"), 64).embed(texts, 8);
        List<float[]> reloaded = new SentenceEmbeddings(BertCheckpoint.fromDirectory(full), 64).embed(texts, 8);
        for (int i = 0; i < texts.size(); i++) assertArrayEquals(original.get(i), reloaded.get(i), 1e-4f, "the written directory, text " + i);

        String low = CliRunner.ok("compress", "--model", "all-MiniLM-L6-v2", "--rank", "8", "--target", "query", "--sentences", "8", "--out",
            tmp.resolve("low").toString()).out();
        assertEquals(6L * 8 * (384 + 384 + 1), (long) number(PARAMS, low, 2), "r·(m + n + 1) per matrix: " + low);
        assertTrue(number(COSINE, low, 1) < 0.9999, low);

        CliRunner.Run bad = CliRunner.run("compress", "--model", "all-MiniLM-L6-v2", "--rank", "8", "--data", "x.jsonl", "--out",
            tmp.resolve("bad").toString());
        assertNotEquals(0, bad.status());
        assertTrue(bad.err().contains("--data is for decoders"), bad.err());
    }

    private static double number(Pattern p, String s, int group) {
        Matcher m = p.matcher(s);
        assertTrue(m.find(), p + " in " + s);
        return Double.parseDouble(m.group(group).replace(",", ""));
    }
}
