package dev.lora4j.bench;

import dev.lora4j.generate.Generator;
import dev.lora4j.generate.SamplingOptions;
import dev.lora4j.model.Weights;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.peft.LoraModel;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.PeftAdapterWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Greedy decoding speed of a random-weight SmolLM2-135M-shaped Llama with a LoRA adapter (r=8 on the seven
 * projections, B random so that the branch does real work) applied unmerged, then merged into the weights; and
 * how long saving that adapter in Peft's format and loading it onto a fresh base take. The two paths are timed
 * alternately, three rounds each, and each rate is the median of its rounds.
 */
public final class DecodeBenchmark {
    /** Timings in seconds; decode rates exclude the prompt's prefill. */
    public record Result(String shape, int promptTokens, int newTokens, double unmergedTokensPerS, double mergedTokensPerS,
                         double mergedOverUnmerged, double adapterSaveS, double adapterLoadS, long adapterBytes, long peakRssMb) {}

    /** Timed rounds of each path. */
    private static final int ROUNDS = 3;

    private DecodeBenchmark() {}

    public static Result run(int promptTokens, int newTokens, long seed) throws IOException {
        LlamaConfig c = TrainBenchmark.smolLm2Config();
        LlamaForCausalLM model = LlamaForCausalLM.fromWeights(c, Weights.random(seed, 0.02f));
        LoraConfig lora = LoraConfig.of(8, 16f, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj").withInit(LoraConfig.Init.RANDOM);
        LoraModel peft = LoraModel.inject(model, lora, seed);
        model.train(false);
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(c.vocabSize());
        SamplingOptions greedy = SamplingOptions.greedy(newTokens);

        Path dir = Files.createTempDirectory("lora4j-decode-bench");
        try {
            long t = System.nanoTime();
            PeftAdapterWriter.save(peft, "default", dir, "CAUSAL_LM", "random-smollm2-135m");
            double save = (System.nanoTime() - t) / 1e9;
            long bytes;
            try (Stream<Path> files = Files.list(dir)) {
                bytes = files.mapToLong(p -> p.toFile().length()).sum();
            }

            // Warm-up of both paths (JIT, caches), then unmerged and merged alternately, A B A B A B, each rate the
            // median of its rounds: a single pass in a fixed order charged whatever the JIT was still compiling,
            // and any drift of the machine, to one side.
            Generator.generateWithStats(model, prompt, greedy, null);
            peft.merge();
            Generator.generateWithStats(model, prompt, greedy, null);
            peft.unmerge();
            double[] unmergedRates = new double[ROUNDS], mergedRates = new double[ROUNDS];
            for (int r = 0; r < ROUNDS; r++) {
                unmergedRates[r] = Generator.generateWithStats(model, prompt, greedy, null).decodeTokensPerSecond();
                peft.merge();
                mergedRates[r] = Generator.generateWithStats(model, prompt, greedy, null).decodeTokensPerSecond();
                peft.unmerge();
            }

            LlamaForCausalLM fresh = LlamaForCausalLM.fromWeights(c, Weights.random(seed, 0.02f));
            t = System.nanoTime();
            PeftAdapterReader.load(fresh, dir, "default", seed);
            double load = (System.nanoTime() - t) / 1e9;
            double u = round(median(unmergedRates)), m = round(median(mergedRates));
            return new Result("smollm2-135m", promptTokens, newTokens, u, m, round(m / u), round(save), round(load), bytes,
                LoadBenchmark.peakRssMb());
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        java.util.Arrays.sort(s);
        return s[s.length / 2];
    }

    private static double round(double x) {
        return Math.round(x * 1e4) / 1e4;
    }
}
