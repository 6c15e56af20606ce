package dev.lora4j.cli;

import dev.lora4j.generate.GenerationResult;
import dev.lora4j.generate.SamplingOptions;
import dev.lora4j.generate.TextGeneration;
import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.tokenize.Tokenizer;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j generate`: text from a decoder model (GPT-2, Llama, Mistral, Qwen2), streamed as it comes. */
@Command(name = "generate", mixinStandardHelpOptions = true,
    description = {"Generate text with a decoder model, streamed token by token.",
        "Example: lora4j generate --model Qwen/Qwen2.5-0.5B-Instruct --chat \"Name three primes.\" --max-tokens 64"})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Hugging Face directory or Hub id org/name[@revision]")
    String model;

    @Option(names = "--adapter", description = "a Peft LoRA adapter directory to apply (unmerged)")
    Path adapter;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--prompt", description = "text to continue")
        String prompt;

        @Option(names = "--chat", description = "a user message, rendered with the model's chat template")
        String chat;
    }

    @Option(names = "--max-tokens", description = "default ${DEFAULT-VALUE}")
    int maxTokens = 128;

    @Option(names = "--temperature", description = "0 = greedy (default ${DEFAULT-VALUE})")
    double temperature = 0;

    @Option(names = "--top-k", description = "0 = off (default ${DEFAULT-VALUE})")
    int topK = 0;

    @Option(names = "--top-p", description = "1 = off (default ${DEFAULT-VALUE})")
    double topP = 1.0;

    @Option(names = "--seed", description = "default ${DEFAULT-VALUE}")
    long seed = 42;

    @Override
    public Integer call() throws Exception {
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        CausalLanguageModel lm = PretrainedModels.causalLm(dir);
        if (adapter != null) PeftAdapterReader.load((Module) lm, adapter, "default", seed);
        TextGeneration gen = new TextGeneration(lm, Tokenizer.fromDirectory(dir));
        SamplingOptions opts = SamplingOptions.sampling(maxTokens, temperature, topK, topP, seed);
        GenerationResult r = input.chat != null
            ? gen.chat(input.chat, opts, piece -> { System.out.print(piece); System.out.flush(); })
            : gen.complete(input.prompt, opts, piece -> { System.out.print(piece); System.out.flush(); });
        System.out.println();
        System.err.printf(Locale.ROOT, "[%d prompt tokens, %d generated, prefill %.2f s, %.1f tokens/s]%n",
            r.promptTokens(), r.generatedTokens(), r.prefillSeconds(), r.decodeTokensPerSecond());
        return 0;
    }
}
