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
    subcommands = {BenchCommand.Gemm.class, BenchCommand.Load.class, BenchCommand.RandomModel.class, BenchCommand.Train.class,
        BenchCommand.Decode.class, BenchCommand.BaseDTypeSteps.class, BenchCommand.Serve.class})
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

    @Command(name = "base-dtype", mixinStandardHelpOptions = true,
        description = {"LoRA training steps on a decoder with its frozen base stored as f32, bf16, int8 or nf4 (QLoRA):",
            "base bytes per weight, seconds per step, peak RSS. One configuration per process.",
            "Example: lora4j bench base-dtype --model /tmp/smollm2-random --base-dtype nf4"})
    static final class BaseDTypeSteps implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "decoder directory (e.g. from bench random-model)")
        java.nio.file.Path model;

        @Option(names = "--base-dtype", description = "f32, bf16, int8 or nf4 (default ${DEFAULT-VALUE})")
        dev.lora4j.peft.BaseDType baseDType = dev.lora4j.peft.BaseDType.NF4;

        @Option(names = "--target", description = "LoRA targets (default ${DEFAULT-VALUE})")
        String target = "all-linear";

        @Option(names = "--batch", description = "default ${DEFAULT-VALUE}")
        int batch = 4;

        @Option(names = "--seq", description = "default ${DEFAULT-VALUE}")
        int seq = 128;

        @Option(names = "--warmup", description = "untimed steps first (default ${DEFAULT-VALUE})")
        int warmup = 2;

        @Option(names = "--steps", description = "timed steps (default ${DEFAULT-VALUE})")
        int steps = 5;

        @Override
        public Integer call() throws Exception {
            System.out.println(new ObjectMapper().writeValueAsString(
                dev.lora4j.bench.BaseDTypeBenchmark.run(model, baseDType, target, batch, seq, warmup, steps)));
            return 0;
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
        description = {"LoRA training throughput on a random-weight model of a real model's shape (the PyTorch reference's work).",
            "Prints one JSON line: tokens_per_s, step_s (median of the warm steps), peak_rss_mb, gflops, ...",
            "Example: lora4j bench train --shape smollm2-135m --steps 5"})
    static final class Train implements Callable<Integer> {
        @Option(names = "--shape", required = true, description = "smollm2-135m (batch 4 x seq 256) or minilm-l6 (batch 16 x seq 128)")
        String shape;

        @Option(names = "--steps", description = "optimizer steps, the first one cold (default ${DEFAULT-VALUE})")
        int steps = 5;

        @Option(names = "--batch", description = "sequences per step (default: the shape's)")
        int batch;

        @Option(names = "--seq", description = "tokens per sequence (default: the shape's)")
        int seq;

        @Option(names = "--rank", description = "LoRA rank r; alpha is 2r (default ${DEFAULT-VALUE})")
        int rank = 8;

        @Option(names = "--seed", description = "default ${DEFAULT-VALUE}")
        long seed = 0;

        @Option(names = "--no-reuse-buffers", negatable = false,
            description = "allocate every activation anew (the GC's work) instead of reusing the previous step's arrays")
        boolean noReuse;

        @Option(names = "--grad-checkpoint", description = "gradient checkpointing: recompute each layer's activations during backward")
        boolean gradCheckpoint;

        @Option(names = "--base-dtype", description = {"storage of the frozen base's linear weights, converted as train --base-dtype does:",
            "f32 (as built), bf16, int8 or nf4 (default ${DEFAULT-VALUE})"})
        dev.lora4j.peft.BaseDType baseDType = dev.lora4j.peft.BaseDType.F32;

        @Override
        public Integer call() throws Exception {
            var options = new dev.lora4j.bench.TrainBenchmark.Options(dev.lora4j.bench.TrainBenchmark.ModelShape.parse(shape),
                steps, batch, seq, rank, seed, !noReuse, gradCheckpoint, baseDType);
            var json = new ObjectMapper().setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);
            System.out.println(json.writeValueAsString(dev.lora4j.bench.TrainBenchmark.run(options)));
            return 0;
        }
    }

    @Command(name = "decode", mixinStandardHelpOptions = true,
        description = {"Greedy decode tokens/s of a random smollm2-135m-shaped model with a LoRA adapter unmerged vs merged,",
            "and the adapter's save and load time. Prints one JSON line.",
            "Example: lora4j bench decode --tokens 64"})
    static final class Decode implements Callable<Integer> {
        @Option(names = "--prompt", description = "prompt tokens (default ${DEFAULT-VALUE})")
        int prompt = 16;

        @Option(names = "--tokens", description = "new tokens per generation (default ${DEFAULT-VALUE})")
        int tokens = 64;

        @Override
        public Integer call() throws Exception {
            var json = new ObjectMapper().setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);
            System.out.println(json.writeValueAsString(dev.lora4j.bench.DecodeBenchmark.run(prompt, tokens, 0)));
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
