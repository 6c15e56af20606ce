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
        ObjectNode o = configNode(c, taskType, baseModel, lora.fanInFanOut(adapterName));
        // Peft has no GLoRA: lora4j's own peft_type, LoRA's fields otherwise (r is the rank of A and B).
        if (lora.isGlora(adapterName)) o.put("peft_type", "GLORA");
        writeConfig(dir, toJson(o));
    }

    /**
     * adapter_config.json with every field Peft's LoraConfig writes, set to what lora4j did.
     *
     * @param fanInFanOut true when a wrapped layer stores its weight [in, out] (GPT-2's Conv1D), as Peft records it
     */
    static String configJson(LoraConfig c, String taskType, String baseModel, boolean fanInFanOut) throws IOException {
        return toJson(configNode(c, taskType, baseModel, fanInFanOut));
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Only the top level is sorted: rank_pattern / alpha_pattern keep their order, because the first matching
     * key wins. Peft's sort_keys=True sorts them too, so a Peft reload can give a module another rank than it
     * trained with; keeping the order loses nothing, since json.load keeps file order.
     */
    private static String toJson(ObjectNode o) throws IOException {
        // Sorted keys, as Python's json.dumps(sort_keys=True) in save_pretrained writes them.
        return JSON.writeValueAsString(JSON.treeToValue(o, java.util.TreeMap.class)) + "\n";
    }

    private static void writeConfig(Path dir, String json) throws IOException {
        Path tmp = dir.resolve("." + CONFIG_FILE + ".tmp");
        Files.write(tmp, json.getBytes(StandardCharsets.UTF_8));
        Files.move(tmp, dir.resolve(CONFIG_FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static ObjectNode configNode(LoraConfig c, String taskType, String baseModel, boolean fanInFanOut) {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode alphas = o.putObject("alpha_pattern");
        c.alphaPattern().forEach((k, v) -> { if (v == Math.rint(v)) alphas.put(k, (int) (float) v); else alphas.put(k, v); });
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
        ObjectNode ranks = o.putObject("rank_pattern");
        c.rankPattern().forEach(ranks::put);
        o.putNull("revision");
        switch (c.targetModules()) {
            case TargetModules.Names n -> { ArrayNode a = o.putArray("target_modules"); n.names().forEach(a::add); }
            case TargetModules.Regex r -> o.put("target_modules", r.regex());
            case TargetModules.AllLinear a -> o.put("target_modules", "all-linear");
        }
        o.put("task_type", taskType);
        o.put("use_dora", c.useDora());
        o.put("use_rslora", c.useRslora());
        return o;
    }

    /**
     * Saves an AdaLoRA adapter as Peft does: peft_type ADALORA with its schedule fields, rank_pattern as
     * {@code {"<module>.lora_E": [kept?, ...]}} (null before any allocation), and only the kept triplets in the
     * tensors ({@code <module>.lora_A} [kept, in], {@code lora_B} [out, kept], {@code lora_E} [kept, 1]; Peft's
     * resize_state_dict_by_rank_pattern). ranknum is not saved (Peft leaves it out: it is init_r).
     */
    public static void saveAdaLora(LoraModel lora, String adapterName, AdaLoraConfig ac, Map<String, boolean[]> rankPattern, Path dir,
                                   String taskType, String baseModel) throws IOException {
        Files.createDirectories(dir);
        if (lora.configs().get(adapterName) == null) throw new IllegalArgumentException("no adapter '" + adapterName + "'");
        Map<String, dev.lora4j.tensor.Tensor> tensors = new java.util.LinkedHashMap<>();
        lora.adapterStateDict(adapterName).forEach((key, t) -> {
            String k = key.substring(LoraModel.KEY_PREFIX.length());
            int dot = k.lastIndexOf('.');
            String module = dot < 0 ? "" : k.substring(0, dot), leaf = k.substring(dot + 1);
            boolean[] keep = rankPattern == null ? null : rankPattern.get(module);
            tensors.put(key, keep == null || !leaf.startsWith("lora_") ? t : AdaLoraLinear.keepTriplets(t, leaf.equals("lora_B"), keep));
        });
        SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of());
        // The LoRA part as a LoRA config writes it (r stays Peft's default 8: AdaLoRA ignores it).
        ObjectNode o = configNode(ac.lora().withRank(8), taskType, baseModel, lora.fanInFanOut(adapterName));
        o.put("peft_type", "ADALORA");
        o.put("target_r", ac.targetR());
        o.put("init_r", ac.initR());
        o.put("tinit", ac.tinit());
        o.put("tfinal", ac.tfinal());
        o.put("deltaT", ac.deltaT());
        o.put("beta1", ac.beta1());
        o.put("beta2", ac.beta2());
        o.put("orth_reg_weight", ac.orthRegWeight());
        o.put("total_step", ac.totalStep());
        if (rankPattern == null) o.putNull("rank_pattern");
        else {
            ObjectNode rp = o.putObject("rank_pattern");
            rankPattern.forEach((module, keep) -> {
                ArrayNode a = rp.putArray(module + ".lora_E");
                for (boolean b : keep) a.add(b);
            });
        }
        writeConfig(dir, toJson(o));
    }
}
