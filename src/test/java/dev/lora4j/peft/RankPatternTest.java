package dev.lora4j.peft;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Peft's rank_pattern / alpha_pattern: matching rule, per-module ranks and scalings, adapter_config.json round trip. */
class RankPatternTest {
    @TempDir
    Path dir;

    @Test
    void keysMatchAWholeDottedSuffixAndTheFirstMatchWins() {
        String path = "model.layers.0.self_attn.q_proj";
        assertEquals("q_proj", LoraConfig.patternFor(List.of("q_proj"), path));
        assertEquals("layers.0.self_attn.q_proj", LoraConfig.patternFor(List.of("layers.0.self_attn.q_proj"), path));
        assertEquals("model.layers.0.self_attn.q_proj", LoraConfig.patternFor(List.of("model.layers.0.self_attn.q_proj"), path));
        assertNull(LoraConfig.patternFor(List.of("proj"), path), "a key matches from a dot, not inside a name");
        assertNull(LoraConfig.patternFor(List.of("self_attn"), path), "a key must reach the end of the path");
        assertEquals(".*\\.0\\..*", LoraConfig.patternFor(List.of(".*\\.0\\..*"), path));
        assertEquals("[qk]_proj", LoraConfig.patternFor(List.of("v_proj", "[qk]_proj", "q_proj"), path));
    }

    static LoraConfig patterned() {
        Map<String, Integer> ranks = new LinkedHashMap<>();
        ranks.put("fc1", 2);
        ranks.put("embed", 6);
        // Listed before a key that also matches fc1 and sorts first: order, not the alphabet, decides.
        ranks.put("encoder\\..*", 3);
        Map<String, Float> alphas = new LinkedHashMap<>();
        alphas.put("encoder\\.fc.", 3f);
        return LoraConfig.of(4, 8, "fc1,fc2,embed").withPatterns(ranks, alphas);
    }

    @Test
    void modulesGetTheirPatternsRankAndScaling() {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, patterned(), 1);
        LoraLayer fc1 = (LoraLayer) n.get("encoder.fc1"), fc2 = (LoraLayer) n.get("encoder.fc2"), emb = (LoraLayer) n.get("embed");
        assertArrayEquals(new int[] {2, 12}, fc1.adapterParameters("default").get("lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {20, 2}, fc1.adapterParameters("default").get("lora_B.weight").shape().dims());
        assertArrayEquals(new int[] {3, 20}, fc2.adapterParameters("default").get("lora_A.weight").shape().dims());
        assertArrayEquals(new int[] {6, LoraModelTest.VOCAB}, emb.adapterParameters("default").get("lora_embedding_A").shape().dims());
        assertEquals(3f / 2, fc1.scaling("default"), 1e-7, "alpha 3 from alpha_pattern over rank 2 from rank_pattern");
        assertEquals(3f / 3, fc2.scaling("default"), 1e-7);
        assertEquals(8f / 6, emb.scaling("default"), 1e-7);
        assertEquals(6, patterned().maxRank());
    }

    @Test
    void patternsRoundTripThroughAdapterConfigAndReload() throws IOException {
        TinyNet n = LoraModelTest.net();
        LoraModel lora = LoraModel.inject(n, patterned(), 1);
        LoraModelTest.randomiseAdapter(lora, "default", 9);
        float[] expected = LoraModelTest.forward(n);
        PeftAdapterWriter.save(lora, "default", dir, "CAUSAL_LM", "tiny");

        JsonNode json = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals(2, json.path("rank_pattern").path("fc1").asInt());
        assertEquals(6, json.path("rank_pattern").path("embed").asInt());
        assertEquals(3, json.path("alpha_pattern").path("encoder\\.fc.").asInt());
        assertEquals(patterned(), PeftAdapterReader.readConfig(dir));
        assertEquals(List.copyOf(patterned().rankPattern().keySet()), List.copyOf(PeftAdapterReader.readConfig(dir).rankPattern().keySet()),
            "the file keeps the patterns' order");

        TinyNet fresh = LoraModelTest.net();
        PeftAdapterReader.load(fresh, dir, "default", 3);
        LoraModelTest.assertClose(expected, LoraModelTest.forward(fresh), 1e-6);
    }

    @Test
    void readsAConfigAsPeftWritesIt() throws IOException {
        java.nio.file.Files.writeString(dir.resolve("adapter_config.json"), """
            {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"],
             "rank_pattern": {"layers.0.self_attn.q_proj": 32, "v_proj": 4}, "alpha_pattern": {"v_proj": 2.5}}
            """);
        LoraConfig c = PeftAdapterReader.readConfig(dir);
        assertEquals(32, c.rankFor("model.layers.0.self_attn.q_proj"));
        assertEquals(8, c.rankFor("model.layers.10.self_attn.q_proj"), "layers.0 must not match layers.10");
        assertEquals(4, c.rankFor("model.layers.3.self_attn.v_proj"));
        assertEquals(2.5f, c.alphaFor("model.layers.3.self_attn.v_proj"));
        assertEquals(16f, c.alphaFor("model.layers.3.self_attn.q_proj"));
    }
}
