package dev.lora4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.generate.Generator;
import dev.lora4j.generate.SamplingOptions;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.MultiAdapterModel;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.peft.ServedAdapter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Mixed-adapter continuous batching computes what each request computes alone: greedy tokens of requests for
 * three adapters of different ranks and targets, and for the base, batched together (some joining mid-flight),
 * equal those of the ordinary one-request path (the adapter loaded into the model with PeftAdapterReader,
 * {@link Generator} with its own KV cache). The naive merge-per-request path is held to the same outputs.
 */
class MixedBatchTest {
    @TempDir
    Path tmp;

    static final int[][] PROMPTS = {{5, 17, 42, 9}, {3, 11}, {30, 2, 8, 19, 44, 7, 1}, {60}, {12, 13, 14}, {70, 71, 5, 9, 2}};
    static final int MAX_NEW = 7;

    record Job(int[] prompt, String adapter) {}

    @ParameterizedTest
    @CsvSource({"llama-tiny, 'q_proj,v_proj', o_proj", "gpt2-tiny, c_attn, c_proj"})
    void mixedBatchEqualsEachRequestAlone(String fixture, String targetsA, String targetsC) throws Exception {
        Path model = ServeFixtures.modelDir(tmp, fixture);
        Map<String, Path> dirs = Map.of(
            "a", ServeFixtures.adapter(tmp, model, "a", 4, targetsA, 11, 0.3),
            "b", ServeFixtures.adapter(tmp, model, "b", 8, "all-linear", 12, 0.25),
            "c", ServeFixtures.adapter(tmp, model, "c", 2, targetsC, 13, 0.4));
        List<Job> jobs = new ArrayList<>();
        String[] names = {"a", "b", null, "c", "a", "b", "c", null, "b", "a"};
        for (int i = 0; i < names.length; i++) jobs.add(new Job(PROMPTS[i % PROMPTS.length], names[i]));

        // Reference: each job alone, through the training library's LoRA layers.
        List<List<Integer>> expected = new ArrayList<>();
        for (Job j : jobs) {
            CausalLanguageModel lm = PretrainedModels.causalLm(model);
            ((Module) lm).train(false);
            if (j.adapter() != null) PeftAdapterReader.load((Module) lm, dirs.get(j.adapter()), "default", 0);
            expected.add(Generator.generate(lm, j.prompt(), SamplingOptions.greedy(MAX_NEW), null));
        }
        // The adapters matter: the same prompt gives different tokens under a, b and the base.
        assertNotEquals(expected.get(0), Generator.generate(base(model), jobs.get(0).prompt(), SamplingOptions.greedy(MAX_NEW), null));
        assertNotEquals(expected.get(1), Generator.generate(base(model), jobs.get(1).prompt(), SamplingOptions.greedy(MAX_NEW), null));

        for (BatchScheduler.Mode mode : BatchScheduler.Mode.values()) {
            ServeMetrics metrics = new ServeMetrics();
            CausalLanguageModel lm = base(model);
            MultiAdapterModel served = MultiAdapterModel.wrap((Module) lm);
            Map<String, ServedAdapter> adapters = new HashMap<>();
            for (var e : dirs.entrySet()) adapters.put(e.getKey(), served.read(e.getKey(), e.getValue()));
            try (BatchScheduler scheduler = new BatchScheduler(lm, served, 6, mode, metrics)) {
                List<GenerationRequest> requests = new ArrayList<>();
                for (int i = 0; i < jobs.size(); i++) {
                    Job j = jobs.get(i);
                    GenerationRequest r = new GenerationRequest(j.prompt(), SamplingOptions.greedy(MAX_NEW),
                        j.adapter() == null ? null : adapters.get(j.adapter()));
                    requests.add(r);
                    scheduler.submit(r);
                    if (i == 3) Thread.sleep(30); // the rest join a batch already decoding
                }
                for (int i = 0; i < jobs.size(); i++) {
                    assertEquals(expected.get(i), tokens(requests.get(i)), mode + ": job " + i + " (adapter " + jobs.get(i).adapter() + ")");
                }
            }
            if (mode == BatchScheduler.Mode.MIXED) {
                String text = metrics.render();
                assertTrue(text.contains("lora4j_batch_size_count"), text);
                // With 10 jobs and batches of up to 6, some step must have held more than one sequence.
                assertTrue(!text.contains("lora4j_batch_size_bucket{le=\"1\"} " + metricsCount(text)), text);
            }
        }
    }

    private static String metricsCount(String text) {
        for (String line : text.split("\n")) if (line.startsWith("lora4j_batch_size_count ")) return line.substring(line.indexOf(' ') + 1);
        return "?";
    }

    static CausalLanguageModel base(Path model) throws Exception {
        CausalLanguageModel lm = PretrainedModels.causalLm(model);
        ((Module) lm).train(false);
        return lm;
    }

    static List<Integer> tokens(GenerationRequest r) throws Exception {
        List<Integer> out = new ArrayList<>();
        while (true) {
            GenerationRequest.Event e = r.next(30);
            assertNotNull(e, "no event within 30 s");
            if (e instanceof GenerationRequest.Token t) out.add(t.id());
            else {
                GenerationRequest.Done d = assertInstanceOf(GenerationRequest.Done.class, e, e.toString());
                assertEquals(out.size(), d.generatedTokens());
                return out;
            }
        }
    }
}
