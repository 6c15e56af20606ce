package dev.lora4j.peft;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lora4j.io.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/**
 * Saves an adapter as Peft's save_pretrained does: {@code adapter_config.json} and
 * {@code adapter_model.safetensors} (keys {@code base_model.model.<path>.lora_A.weight} ...), each written to a
 * temporary file and renamed, so a crash never leaves a torn adapter.
 */
public final class PeftAdapterWriter {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";

    private PeftAdapterWriter() {}

    /**
     * A PiSSA adapter is saved converted to a plain LoRA adapter of rank 2r on the original base (see
     * {@link LoraModel#pissaConvertedStateDict}), as Peft's save_pretrained(path_initial_model_for_weight_conversion=...).
     *
     * @param taskType Peft's task_type: SEQ_CLS, CAUSAL_LM, FEATURE_EXTRACTION ...
     * @param baseModel base_model_name_or_path, what Peft's from_pretrained loads the base from
     */
    public static void save(LoraModel lora, String adapterName, Path dir, String taskType, String baseModel) throws IOException {
        Files.createDirectories(dir);
        LoraConfig c = lora.configs().get(adapterName);
        if (c == null) throw new IllegalArgumentException("no adapter '" + adapterName + "'");
        // A PiSSA adapter only works on the residual base lora4j trained it on; saved converted, it loads as a
        // plain LoRA on the original base, which is what base_model_name_or_path names.
        boolean pissa = c.initLoraWeights() == LoraConfig.Init.PISSA;
        Map<String, dev.lora4j.tensor.Tensor> tensors = pissa ? lora.pissaConvertedStateDict(adapterName) : lora.adapterStateDict(adapterName);
        if (pissa) c = LoraModel.pissaConvertedConfig(c);
        SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of());
        byte[] json = configJson(c, taskType, baseModel, lora.fanInFanOut(adapterName)).getBytes(StandardCharsets.UTF_8);
        Path tmp = dir.resolve("." + CONFIG_FILE + ".tmp");
        Files.write(tmp, json);
        Files.move(tmp, dir.resolve(CONFIG_FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * adapter_config.json with every field Peft's LoraConfig writes, set to what lora4j did.
     *
     * @param fanInFanOut true when a wrapped layer stores its weight [in, out] (GPT-2's Conv1D), as Peft records it
     */
    static String configJson(LoraConfig c, String taskType, String baseModel, boolean fanInFanOut) throws IOException {
        ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
        ObjectNode o = m.createObjectNode();
        o.putObject("alpha_pattern");
        o.putNull("auto_mapping");
        o.put("base_model_name_or_path", baseModel);
        o.put("bias", c.bias().name().toLowerCase(java.util.Locale.ROOT));
        o.put("fan_in_fan_out", fanInFanOut);
        o.put("inference_mode", true);
        switch (c.initLoraWeights()) {
            case KAIMING -> o.put("init_lora_weights", true);
            case GAUSSIAN -> o.put("init_lora_weights", "gaussian");
            case RANDOM -> o.put("init_lora_weights", false);
            case PISSA -> o.put("init_lora_weights", "pissa");
        }
        o.putNull("layer_replication");
        o.putNull("layers_pattern");
        o.putNull("layers_to_transform");
        o.putObject("loftq_config");
        if (c.loraAlpha() == Math.rint(c.loraAlpha())) o.put("lora_alpha", (int) c.loraAlpha());
        else o.put("lora_alpha", c.loraAlpha());
        o.put("lora_dropout", c.loraDropout());
        o.putNull("megatron_config");
        o.put("megatron_core", "megatron.core");
        ArrayNode save = o.putArray("modules_to_save");
        c.modulesToSave().forEach(save::add);
        if (c.modulesToSave().isEmpty()) o.putNull("modules_to_save");
        o.put("peft_type", "LORA");
        o.put("r", c.r());
        o.putObject("rank_pattern");
        o.putNull("revision");
        switch (c.targetModules()) {
            case TargetModules.Names n -> { ArrayNode a = o.putArray("target_modules"); n.names().forEach(a::add); }
            case TargetModules.Regex r -> o.put("target_modules", r.regex());
            case TargetModules.AllLinear a -> o.put("target_modules", "all-linear");
        }
        o.put("task_type", taskType);
        o.put("use_dora", c.useDora());
        o.put("use_rslora", c.useRslora());
        // Sorted keys, as Python's json.dumps(sort_keys=True) in save_pretrained writes them.
        return m.writeValueAsString(m.treeToValue(o, java.util.TreeMap.class)) + "\n";
    }
}
