package dev.lora4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.bench.GemmBenchmark;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j bench ...`: micro and end-to-end benchmarks, each printing JSON lines. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks that print one JSON line per case.",
    subcommands = {BenchCommand.Gemm.class, BenchCommand.Load.class, BenchCommand.RandomModel.class, BenchCommand.Serve.class})
final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }

    @Command(name = "gemm", mixinStandardHelpOptions = true,
        description = {"GEMM GFLOP/s on training shapes, in the three layouts.",
            "Example: lora4j bench gemm --shapes 1024x576x576 --layouts nt,nn,tn"})
    static final class Gemm implements Callable<Integer> {
        @Option(names = "--shapes", split = ",", description = "MxNxK list (default: SmolLM2-135M and MiniLM-L6 layer shapes at M=1024)")
        List<String> shapes = GemmBenchmark.DEFAULT_SHAPES;

        @Option(names = "--layouts", split = ",", description = "nt (forward), nn (input grad), tn (weight grad); default all")
        List<String> layouts = Arrays.asList("nt", "nn", "tn");

        @Option(names = "--seconds", description = "minimum timed seconds per case (default ${DEFAULT-VALUE})")
        double seconds = 1.0;

        @Override
        public Integer call() throws Exception {
            ObjectMapper json = new ObjectMapper();
            GemmBenchmark bench = new GemmBenchmark(seconds);
            for (String s : shapes) {
                for (String layout : layouts) {
                    System.out.println(json.writeValueAsString(bench.measure(GemmBenchmark.Shape.parse(s), layout)));
                }
            }
            return 0;
        }
    }

    @Command(name = "load", mixinStandardHelpOptions = true,
        description = {"Time and peak RSS of loading one model (built-in name or Hugging Face directory).",
            "Example: lora4j bench load --model all-MiniLM-L6-v2"})
    static final class Load implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "built-in name or model directory")
        String model;

        @Override
        public Integer call() throws Exception {
            System.out.println(new ObjectMapper().writeValueAsString(dev.lora4j.bench.LoadBenchmark.run(model)));
            return 0;
        }
    }

    @Command(name = "random-model", mixinStandardHelpOptions = true,
        description = {"Writes a random-weight SmolLM2-135M-shaped Llama directory (config.json, model.safetensors).",
            "Example: lora4j bench random-model --out /tmp/smollm2-random"})
    static final class RandomModel implements Callable<Integer> {
        @Option(names = "--out", required = true, description = "directory to write")
        java.nio.file.Path out;

        @Option(names = "--seed", description = "default ${DEFAULT-VALUE}")
        long seed = 1;

        @Override
        public Integer call() throws Exception {
            dev.lora4j.bench.RandomCheckpoint.writeLlama(out, dev.lora4j.bench.RandomCheckpoint.smolLm2Config(), seed);
            System.out.println("wrote " + out.toAbsolutePath());
            return 0;
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Load test of lora4j serve over loopback: one adapter, N adapters mixed in one batch, and N adapters merged per "
            + "request (the naive way), alternating rounds; tokens/s and p50/p99 latency, one JSON line per scenario and round.",
            "Example: lora4j bench serve --requests 48 --concurrency 16 --max-tokens 32 --rounds 2"})
    static final class Serve implements Callable<Integer> {
        @Option(names = "--model", description = "decoder directory with tokenizer.json (default: a random SmolLM2-135M-shaped Llama written to --work)")
        java.nio.file.Path model;

        @Option(names = "--work", description = "where the random model and adapters go, reused between runs (default ${DEFAULT-VALUE})")
        java.nio.file.Path work = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "lora4j-bench-serve");

        @Option(names = "--requests", description = "most requests per scenario and round (default ${DEFAULT-VALUE})")
        int requests = 48;

        @Option(names = "--concurrency", description = "clients sending at once (default ${DEFAULT-VALUE})")
        int concurrency = 16;

        @Option(names = "--prompt-tokens", description = "default ${DEFAULT-VALUE}")
        int promptTokens = 16;

        @Option(names = "--max-tokens", description = "tokens generated per request (default ${DEFAULT-VALUE})")
        int maxTokens = 32;

        @Option(names = "--seconds", description = "time cap per scenario and round; requests under way still finish (default ${DEFAULT-VALUE})")
        double seconds = 60;

        @Option(names = "--rounds", description = "default ${DEFAULT-VALUE}")
        int rounds = 2;

        @Option(names = "--rank", description = "adapter rank (default ${DEFAULT-VALUE})")
        int rank = 8;

        @Option(names = "--targets", description = "adapter target modules (default ${DEFAULT-VALUE}, Peft's default for Llama)")
        String targets = "q_proj,v_proj";

        @Option(names = "--adapters", description = "adapters in the mixed scenarios (default ${DEFAULT-VALUE})")
        int adapters = 8;

        @Option(names = "--max-batch", description = "server --max-batch (default ${DEFAULT-VALUE})")
        int maxBatch = 16;

        @Override
        public Integer call() throws Exception {
            dev.lora4j.bench.ServeBenchmark.run(model, work, new dev.lora4j.bench.ServeBenchmark.Settings(requests, concurrency, promptTokens,
                maxTokens, seconds, rounds, rank, targets, adapters, maxBatch));
            return 0;
        }
    }
}
