package dev.lora4j.cli;

import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.MergedModelWriter;
import dev.lora4j.peft.PeftAdapterReader;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j merge`: a decoder with one adapter merged in, written as a Hugging Face directory. */
@Command(name = "merge", mixinStandardHelpOptions = true,
    description = {"Merge a LoRA adapter into its base model and write a Hugging Face directory transformers can load.",
        "Example: lora4j merge --model path/to/base --adapter runs/my-adapter --out merged/"})
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "base decoder: Hugging Face directory or Hub id")
    String model;

    @Option(names = "--adapter", required = true, description = "Peft adapter directory")
    Path adapter;

    @Option(names = "--out", required = true, description = "output directory")
    Path out;

    @Override
    public Integer call() throws Exception {
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        Module base = (Module) PretrainedModels.causalLm(dir);
        LoraModel lora = PeftAdapterReader.load(base, adapter, "default", 0);
        Module merged = lora.mergeAndUnload();
        MergedModelWriter.write(merged, HfModelDirectory.open(dir), out);
        System.out.println("merged " + adapter + " into " + model + " -> " + out.toAbsolutePath());
        return 0;
    }
}
