package dev.lora4j.io.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.lora4j.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The weights of a Hugging Face model directory, whether in one model.safetensors or split into shards by a
 * model.safetensors.index.json, read through one set of names.
 *
 * <p>With an index, the tensors are exactly those of its "weight_map", each read from the shard the map names;
 * every shard is opened (and validated) once, up front, and each mapped tensor must be in its shard. Unknown
 * names and dtype mismatches throw {@link IllegalArgumentException}, as in {@link SafetensorsFile}.
 */
public final class ShardedSafetensors implements AutoCloseable {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";

    private final Path source;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> owners;

    private ShardedSafetensors(Path source, List<SafetensorsFile> shards, Map<String, SafetensorsFile> owners) {
        this.source = source;
        this.shards = List.copyOf(shards);
        this.owners = Collections.unmodifiableMap(owners);
    }

    /**
     * Opens a model directory: through its index if it has one, else its model.safetensors. A path to a regular
     * file is opened as {@link #openFile} would.
     */
    public static ShardedSafetensors open(Path dir) throws IOException {
        return open(dir, false);
    }

    /**
     * Like {@link #open}, for weights a model keeps reading in place ({@link SafetensorsFile#openForModel}): the
     * mappings live as long as their segments are reachable.
     */
    public static ShardedSafetensors openForModel(Path dir) throws IOException {
        return open(dir, true);
    }

    private static ShardedSafetensors open(Path dir, boolean modelLifetime) throws IOException {
        if (Files.isRegularFile(dir)) return openFile(dir, modelLifetime);
        Path index = dir.resolve(INDEX_FILE);
        if (Files.exists(index)) return openIndex(index, modelLifetime);
        Path single = dir.resolve(SINGLE_FILE);
        if (Files.exists(single)) return openFile(single, modelLifetime);
        throw new NoSuchFileException(dir.toString(), null, "neither " + INDEX_FILE + " nor " + SINGLE_FILE + " found");
    }

    /** One safetensors file, read as a one-shard model. */
    public static ShardedSafetensors openFile(Path file) throws IOException {
        return openFile(file, false);
    }

    private static ShardedSafetensors openFile(Path file, boolean modelLifetime) throws IOException {
        SafetensorsFile shard = SafetensorsFile.open(file, modelLifetime);
        Map<String, SafetensorsFile> owners = new TreeMap<>(Names.UTF8_ORDER);
        for (String name : shard.names()) owners.put(name, shard);
        return new ShardedSafetensors(file, List.of(shard), owners);
    }

    private static ShardedSafetensors openIndex(Path index, boolean modelLifetime) throws IOException {
        Map<String, List<String>> tensorsByShard = readWeightMap(index);
        Path dir = index.toAbsolutePath().getParent().normalize();
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> owners = new TreeMap<>(Names.UTF8_ORDER);
            for (Map.Entry<String, List<String>> entry : tensorsByShard.entrySet()) {
                String shardName = entry.getKey();
                String someTensor = entry.getValue().getFirst();
                Path shardPath = dir.resolve(shardName).normalize();
                // An index is data from the internet: it must not point us at files outside the model.
                if (!shardPath.startsWith(dir) || shardPath.equals(dir)) {
                    throw new SafetensorsFormatException(index, someTensor, "weight_map names shard "
                            + Names.quote(shardName) + ", which lies outside the model directory");
                }
                if (!Files.isRegularFile(shardPath)) {
                    throw new SafetensorsFormatException(index, someTensor, "weight_map names shard "
                            + Names.quote(shardName) + ", which does not exist in " + dir);
                }
                SafetensorsFile shard = SafetensorsFile.open(shardPath, modelLifetime);
                opened.add(shard);
                for (String tensor : entry.getValue()) {
                    if (!shard.contains(tensor)) {
                        throw new SafetensorsFormatException(index, tensor, "weight_map puts it in shard "
                                + Names.quote(shardName) + ", which does not hold it ("
                                + Names.noSuchTensor(tensor, shard.names()) + ")");
                    }
                    owners.put(tensor, shard);
                }
            }
            return new ShardedSafetensors(index, opened, owners);
        } catch (Throwable t) {
            for (SafetensorsFile shard : opened) shard.close();
            throw t;
        }
    }

    /** The weight map, grouped by shard in the order shards first appear. */
    private static Map<String, List<String>> readWeightMap(Path index) throws IOException {
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(Files.readString(index));
        } catch (JsonProcessingException e) {
            throw new SafetensorsFormatException(index, null, "not valid JSON: " + e.getOriginalMessage(), e);
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(index, null, "not valid UTF-8", e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new SafetensorsFormatException(index, "expected an object with a \"weight_map\" object of"
                    + " tensor name -> shard file");
        }
        Map<String, List<String>> byShard = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : weightMap.properties()) {
            if (!field.getValue().isTextual()) {
                throw new SafetensorsFormatException(index, field.getKey(),
                        "weight_map must map it to a shard file name, found " + field.getValue().getNodeType());
            }
            byShard.computeIfAbsent(field.getValue().textValue(), k -> new ArrayList<>()).add(field.getKey());
        }
        return byShard;
    }

    /** The index file, or the single safetensors file, this was opened from. */
    public Path path() {
        return source;
    }

    /** The tensor names, sorted as {@link SafetensorsFile#names()} sorts them. */
    public List<String> names() {
        return List.copyOf(owners.keySet());
    }

    public boolean contains(String name) {
        return owners.containsKey(name);
    }

    /** The opened shard files, in the order the index first names them. */
    public List<SafetensorsFile> shards() {
        return shards;
    }

    /** The shard that holds a tensor. */
    public SafetensorsFile shardOf(String name) {
        SafetensorsFile shard = owners.get(name);
        if (shard == null) throw new IllegalArgumentException(source + ": " + Names.noSuchTensor(name, owners.keySet()));
        return shard;
    }

    public TensorInfo info(String name) {
        return shardOf(name).info(name);
    }

    public MemorySegment segment(String name) {
        return shardOf(name).segment(name);
    }

    public Tensor tensor(String name) {
        return shardOf(name).tensor(name);
    }

    public long[] longs(String name) {
        return shardOf(name).longs(name);
    }

    @Override
    public void close() {
        for (SafetensorsFile shard : shards) shard.close();
    }

    @Override
    public String toString() {
        return "ShardedSafetensors[" + source + ", " + shards.size() + " shards, " + owners.size() + " tensors]";
    }
}
