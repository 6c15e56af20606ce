package dev.lora4j.cli;

import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.io.safetensors.SafetensorsDType;
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.MergedModelWriter;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.QuantizedBase;
import java.util.Locale;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;

/** `lora4j merge`: a decoder with one adapter merged in, written as a Hugging Face directory. */
@Command(name = "merge", mixinStandardHelpOptions = true,
    description = {"Merge a LoRA adapter into its base model and write a Hugging Face directory transformers can load.",
        "Example: lora4j merge --model path/to/base --adapter runs/my-adapter --out merged/"})
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "base decoder: Hugging Face directory or Hub id")
    String model;

    @Option(names = "--adapter", required = true, description = "Peft adapter directory")
    Path adapter;

    @Option(names = "--out", required = true, description = "output directory")
    Path out;

    @Option(names = "--base-dtype", description = {"the base storage the adapter was trained on: nf4 for a QLoRA adapter (train --method",
        "qlora), int8 or bf16; the base is stored so again, then dequantized and the update added in F32 (default ${DEFAULT-VALUE})"})
    BaseDType baseDType = BaseDType.F32;

    @Option(names = "--dtype", description = "weights written as f32 or bf16 (default ${DEFAULT-VALUE})")
    String dtype = "f32";

    @Override
    public Integer call() throws Exception {
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
        if (outType == SafetensorsDType.BF16) System.err.println("note: weights written as BF16 are rounded once more (8 bits of mantissa)");
        LoraModel lora = PeftAdapterReader.load(base, adapter, "default", 0);
        Module merged = lora.mergeAndUnload();
        MergedModelWriter.write(merged, HfModelDirectory.open(dir), out, outType);
        System.out.println("merged " + adapter + " into " + model + " -> " + out.toAbsolutePath());
        return 0;
    }
}
