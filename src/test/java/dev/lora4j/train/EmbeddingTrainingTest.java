package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.data.Record;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.peft.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Contrastive LoRA learns pairings the frozen model cannot know: arbitrary codes paired with arbitrary phrases. */
class EmbeddingTrainingTest {
    static final String[] CODES = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
        "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"};
    static final String[] PHRASES = {"a red bicycle", "warm bread", "the quiet lake", "an old violin", "fresh snow", "a paper boat",
        "strong coffee", "the night train", "a green door", "wild horses", "a glass of milk", "the city library",
        "a broken clock", "summer rain", "a wooden spoon", "the blue whale"};

    @TempDir
    Path out;

    @Test
    void retrievalOfArbitraryPairsImproves() throws Exception {
        List<Record.Pair> pairs = new ArrayList<>();
        for (int i = 0; i < CODES.length; i++) pairs.add(new Record.Pair("code word " + CODES[i], PHRASES[(i * 7) % PHRASES.length], null));
        EmbeddingTraining.Result r = new EmbeddingTraining(BertCheckpoint.builtin("all-MiniLM-L6-v2"), 32)
            .run(pairs, pairs, LoraConfig.of(8, 16, "query,key,value"), new TrainingOptions(8, 8, 1, 3e-3, 0.0, 2, "linear", 1.0, 5),
                out, false, 0, false);
        assertTrue(r.before().accuracyAt1() < 0.5, "the frozen model does not know the pairing: " + r.before());
        assertTrue(r.after().mrr() > r.before().mrr() + 0.2, r.before() + " -> " + r.after());
        assertTrue(r.history().losses().getLast() < r.history().losses().getFirst() / 2, "loss: " + r.history().losses());
        assertTrue(Files.readString(out.resolve("adapter_config.json")).contains("FEATURE_EXTRACTION"));
    }
}
