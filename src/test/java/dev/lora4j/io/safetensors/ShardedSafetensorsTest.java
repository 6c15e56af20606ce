package dev.lora4j.io.safetensors;

import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShardedSafetensorsTest {
    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    /** Two shards as transformers writes them; shard 2 also holds a tensor the index does not mention. */
    private static void writeShards(Path dir) throws Exception {
        SafetensorsWriter.write(dir.resolve(SHARD1), Map.of(
                "model.embed.weight", Tensor.of(new float[]{1, 2, 3, 4}, 2, 2),
                "model.layers.0.w", Tensor.of(new float[]{5, 6}, 2)), Map.of());
        SafetensorsWriter.write(dir.resolve(SHARD2), Map.of(
                "model.layers.1.w", Tensor.of(new float[]{7, 8}, 2),
                "lm_head.weight", Tensor.of(new float[]{9}, 1, 1),
                "stray", Tensor.zeros(1)), Map.of());
    }

    private static void writeIndex(Path dir, String weightMap) throws Exception {
        Files.writeString(dir.resolve(ShardedSafetensors.INDEX_FILE),
                "{\"metadata\":{\"total_size\":36},\"weight_map\":{" + weightMap + "}}");
    }

    private static final String GOOD_MAP = "\"model.embed.weight\":\"" + SHARD1 + "\","
            + "\"model.layers.0.w\":\"" + SHARD1 + "\","
            + "\"model.layers.1.w\":\"" + SHARD2 + "\","
            + "\"lm_head.weight\":\"" + SHARD2 + "\"";

    @Test
    void readsTensorsAcrossShards(@TempDir Path dir) throws Exception {
        writeShards(dir);
        writeIndex(dir, GOOD_MAP);
        try (ShardedSafetensors model = ShardedSafetensors.open(dir)) {
            assertEquals(List.of("lm_head.weight", "model.embed.weight", "model.layers.0.w", "model.layers.1.w"),
                    model.names());
            assertArrayEquals(new float[]{1, 2, 3, 4}, model.tensor("model.embed.weight").data());
            assertArrayEquals(new float[]{7, 8}, model.tensor("model.layers.1.w").data());
            assertArrayEquals(new float[]{9}, model.tensor("lm_head.weight").data());
            assertEquals(2, model.shards().size(), "each shard opened once");
            assertSame(model.shardOf("model.layers.1.w"), model.shardOf("lm_head.weight"));
            assertEquals(dir.resolve(SHARD2).toAbsolutePath(), model.shardOf("lm_head.weight").path());
            assertEquals(8, model.info("model.layers.0.w").byteSize());
            assertEquals(8, model.segment("model.layers.0.w").byteSize());
            assertFalse(model.contains("stray"), "only the weight map's tensors are the model's");
            var e = assertThrows(IllegalArgumentException.class, () -> model.tensor("model.layers.2.w"));
            assertTrue(e.getMessage().contains("'model.layers.2.w'") && e.getMessage().contains("model.layers.1.w"),
                    e.getMessage());
        }
    }

    @Test
    void tensorMissingFromItsShardIsNamed(@TempDir Path dir) throws Exception {
        writeShards(dir);
        writeIndex(dir, GOOD_MAP + ",\"model.layers.2.w\":\"" + SHARD1 + "\"");
        var e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(dir));
        String m = e.getMessage();
        assertTrue(m.contains(ShardedSafetensors.INDEX_FILE) && m.contains("'model.layers.2.w'") && m.contains(SHARD1), m);
        assertEquals("model.layers.2.w", e.tensor());
    }

    @Test
    void tensorMappedToTheWrongShardIsNamed(@TempDir Path dir) throws Exception {
        writeShards(dir);
        writeIndex(dir, GOOD_MAP.replace("\"lm_head.weight\":\"" + SHARD2, "\"lm_head.weight\":\"" + SHARD1));
        var e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(dir));
        assertTrue(e.getMessage().contains("'lm_head.weight'") && e.getMessage().contains(SHARD1), e.getMessage());
    }

    @Test
    void missingShardFileIsNamed(@TempDir Path dir) throws Exception {
        writeShards(dir);
        writeIndex(dir, GOOD_MAP + ",\"x\":\"model-00003-of-00002.safetensors\"");
        var e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(dir));
        assertTrue(e.getMessage().contains("model-00003-of-00002.safetensors") && e.getMessage().contains("'x'"),
                e.getMessage());
    }

    @Test
    void shardOutsideTheDirectoryIsRefused(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        writeShards(dir);
        writeIndex(model, "\"model.layers.0.w\":\"../" + SHARD1 + "\"");
        var e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(model));
        assertTrue(e.getMessage().contains("outside"), e.getMessage());
    }

    @Test
    void corruptShardIsNamed(@TempDir Path dir) throws Exception {
        writeShards(dir);
        writeIndex(dir, GOOD_MAP);
        byte[] bytes = Files.readAllBytes(dir.resolve(SHARD2));
        Files.write(dir.resolve(SHARD2), java.util.Arrays.copyOf(bytes, bytes.length - 1));
        var e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(dir));
        assertTrue(e.getMessage().contains(SHARD2), e.getMessage());
    }

    @Test
    void badIndexIsRejected(@TempDir Path dir) throws Exception {
        writeShards(dir);
        Files.writeString(dir.resolve(ShardedSafetensors.INDEX_FILE), "{\"weight_map\":[]}");
        var e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(dir));
        assertTrue(e.getMessage().contains(ShardedSafetensors.INDEX_FILE) && e.getMessage().contains("weight_map"),
                e.getMessage());
        Files.writeString(dir.resolve(ShardedSafetensors.INDEX_FILE), "{\"weight_map\":{\"a\":1}}");
        e = assertThrows(SafetensorsFormatException.class, () -> ShardedSafetensors.open(dir));
        assertTrue(e.getMessage().contains("'a'"), e.getMessage());
    }

    @Test
    void emptyDirectorySaysWhatItLookedFor(@TempDir Path dir) {
        var e = assertThrows(NoSuchFileException.class, () -> ShardedSafetensors.open(dir));
        assertTrue(e.getMessage().contains(ShardedSafetensors.INDEX_FILE) && e.getMessage().contains("model.safetensors"),
                e.getMessage());
    }
}
