package dev.lora4j.cli;

import dev.lora4j.serve.BatchScheduler;
import dev.lora4j.serve.LoraServer;
import dev.lora4j.serve.ServerConfig;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j serve`: an OpenAI-compatible server over one base model and many LoRA adapters. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = {"Serve a base model and its LoRA adapters over an OpenAI-compatible HTTP API; requests for different "
        + "adapters are batched together.",
        "Example: lora4j serve --model path/to/llama --adapter sql=runs/sql-lora --adapter chat=runs/chat-lora --port 8080"})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "the base: a decoder (completions, chat) or a BERT-family encoder "
        + "(embeddings, classification); built-in name, directory or Hub id")
    String model;

    @Option(names = "--adapter", description = "name=path of a Peft LoRA adapter to load at start (repeatable)")
    Map<String, Path> adapters = new LinkedHashMap<>();

    @Option(names = "--host", description = "address to bind (default ${DEFAULT-VALUE}: this machine only)")
    String host = "127.0.0.1";

    @Option(names = "--port", description = "default ${DEFAULT-VALUE}; 0 picks a free port")
    int port = 8080;

    @Option(names = "--max-adapters", description = "adapters held in memory at once; the least recently used is re-read from disk on demand (default ${DEFAULT-VALUE})")
    int maxAdapters = 8;

    @Option(names = "--max-batch", description = "sequences decoded together in one step (default ${DEFAULT-VALUE})")
    int maxBatch = 16;

    @Option(names = "--max-tokens-cap", description = "the largest max_tokens a request may ask for (default ${DEFAULT-VALUE})")
    int maxTokensCap = 512;

    @Option(names = "--api-key", description = "require 'Authorization: Bearer KEY' on /v1/ endpoints (default: LORA4J_API_KEY, else none)")
    String apiKey = System.getenv("LORA4J_API_KEY");

    @Option(names = "--batching", description = "mixed (adapters batched together, default) or merge-per-request (the naive way, for comparison)")
    String batching = "mixed";

    @Override
    public Integer call() throws Exception {
        BatchScheduler.Mode mode = switch (batching) {
            case "mixed" -> BatchScheduler.Mode.MIXED;
            case "merge-per-request" -> BatchScheduler.Mode.MERGE_PER_REQUEST;
            default -> throw new IllegalArgumentException("--batching must be mixed or merge-per-request, got '" + batching + "'");
        };
        ServerConfig config = new ServerConfig(model, adapters, host, port, maxAdapters, maxBatch, apiKey == null || apiKey.isEmpty() ? null : apiKey,
            maxTokensCap, 256, mode);
        LoraServer server = LoraServer.start(config);
        System.err.println("lora4j serve: " + model + " with " + adapters.size() + " adapter(s) on " + server.baseUrl()
            + (config.apiKey() != null ? " (API key required)" : ""));
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stop.countDown();
        }));
        stop.await();
        return 0;
    }
}
