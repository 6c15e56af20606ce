package dev.lora4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.io.safetensors.SafetensorsDType;
import dev.lora4j.peft.AdapterArithmetic;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.MergedModelWriter;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.PeftAdapterWriter;
import dev.lora4j.peft.QuantizedBase;
import java.util.Locale;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;

/**
 * `lora4j merge`: one adapter, or several combined with weights (Peft's add_weighted_adapter), merged into the
 * base decoder and written as a Hugging Face directory, or saved as a new adapter with --as-adapter.
 */
@Command(name = "merge", mixinStandardHelpOptions = true,
    description = {"Merge LoRA adapters into their base model and write a Hugging Face directory transformers can load,",
        "or combine several adapters into a new one (--as-adapter), with Peft's add_weighted_adapter meaning.",
        "Example: lora4j merge --model path/to/base --adapter runs/my-adapter --out merged/",
        "Example: lora4j merge --model base --adapter runs/a --adapter runs/b --weights 0.7,0.3 --combination svd --rank 8 --as-adapter --out runs/ab"})
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "base decoder: Hugging Face directory or Hub id")
    String model;

    @Option(names = "--adapter", required = true, description = "Peft adapter directory; repeat to combine several")
    List<Path> adapters;

    @Option(names = "--weights", split = ",", description = "one weight per adapter, comma separated (default: 1 each); may be negative")
    List<Double> weights;

    @Option(names = "--combination", description = {"how several adapters combine: cat (exact: rank = sum of ranks), linear (Peft's",
        "square-root weights on A and B; same rank needed) or svd (best rank --rank approximation of the weighted",
        "sum of updates) (default ${DEFAULT-VALUE}; Peft's own default is svd)"})
    String combination = "cat";

    @Option(names = "--rank", description = "rank of the svd combination (default: the largest input rank, as Peft)")
    Integer rank;

    @Option(names = "--as-adapter", description = "save the combination as a new Peft adapter in --out instead of merging it into the model")
    boolean asAdapter;

    @Option(names = "--out", required = true, description = "output directory")
    Path out;

    /** The name the combined adapter gets inside the model (never written to disk). */
    private static final String COMBINED = "combined";

    @Option(names = "--base-dtype", description = {"the base storage the adapter was trained on: nf4 for a QLoRA adapter (train --method",
        "qlora), int8 or bf16; the base is stored so again, then dequantized and the update added in F32 (default ${DEFAULT-VALUE})"})
    BaseDType baseDType = BaseDType.F32;

    @Option(names = "--dtype", description = "weights written as f32 or bf16 (default ${DEFAULT-VALUE})")
    String dtype = "f32";

    @Override
    public Integer call() throws Exception {
        List<Double> w = weights != null ? weights : Collections.nCopies(adapters.size(), 1.0);
        if (w.size() != adapters.size()) {
            System.err.println("lora4j merge: " + adapters.size() + " --adapter but " + w.size() + " --weights");
            return 2;
        }
        AdapterArithmetic.Combination how = AdapterArithmetic.Combination.parse(combination);
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        SafetensorsDType outType = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> SafetensorsDType.F32;
            case "bf16" -> SafetensorsDType.BF16;
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "--dtype: f32 or bf16, not " + dtype);
        };
        Module base = (Module) PretrainedModels.causalLm(dir);
        if (baseDType != BaseDType.F32) {
            // The adapter learned its update on top of the quantized base, so it is merged into that base (Peft's merge on a
            // bitsandbytes model also starts from the dequantized weight); every quantized weight is dequantized, not only
            // those the adapter touches, so the merged model computes what the trained one did.
            QuantizedBase.Summary q = QuantizedBase.apply(base, baseDType, path -> true);
            System.err.printf(Locale.ROOT, "warning: merging into a %s base: each of the %d linear weights is dequantized and the update added "
                    + "in F32, so the merged model keeps the %s rounding (up to %.3g per weight) and differs from the original base + update; "
                    + "it computes what the quantized model with the adapter computed.%n",
                baseDType, q.layers(), baseDType, q.maxAbsError());
        }
        List<String> names = new ArrayList<>();
        for (int i = 0; i < adapters.size(); i++) names.add("adapter" + i);
        LoraModel lora = PeftAdapterReader.load(base, adapters.get(0), names.get(0), 0);
        for (int i = 1; i < adapters.size(); i++) PeftAdapterReader.loadInto(lora, adapters.get(i), names.get(i));

        String merged = names.get(0);
        boolean plain = adapters.size() == 1 && w.get(0) == 1.0;
        if (!plain) {
            LoraConfig c = AdapterArithmetic.addWeightedAdapter(lora, names, w, COMBINED, how, rank);
            merged = COMBINED;
            System.out.println("combined " + adapters.size() + " adapter(s) with weights " + w + " by "
                + (adapters.size() == 1 ? "linear" : how.name().toLowerCase(Locale.ROOT)) + ": rank " + c.r());
        }
        if (asAdapter) {
            JsonNode first = new ObjectMapper().readTree(adapters.get(0).resolve(PeftAdapterWriter.CONFIG_FILE).toFile());
            PeftAdapterWriter.save(lora, merged, out, first.path("task_type").asText("CAUSAL_LM"),
                first.path("base_model_name_or_path").asText(model));
            System.out.println("adapter -> " + out.toAbsolutePath());
            return 0;
        }
        if (outType == SafetensorsDType.BF16) System.err.println("note: weights written as BF16 are rounded once more (8 bits of mantissa)");
        lora.setActiveAdapter(merged);
        for (var m : lora.model().namedModules().entrySet()) {
            if (m.getValue() instanceof dev.lora4j.peft.GloraLinear g && g.biasAdded()) {
                throw new IllegalArgumentException("GLoRA adapter " + adapters.get(0) + ": module '" + m.getKey() + "' of " + model
                    + " has no bias, so GLoRA's merged bias (W0·C + D⊙b0 + E) has no place in the model's checkpoint; "
                    + "use the adapter unmerged (eval/generate --adapter)");
            }
        }
        Module result = lora.mergeAndUnload();
        MergedModelWriter.write(result, HfModelDirectory.open(dir), out, outType);
        System.out.println("merged " + adapters + " into " + model + " -> " + out.toAbsolutePath());
        return 0;
    }
}
