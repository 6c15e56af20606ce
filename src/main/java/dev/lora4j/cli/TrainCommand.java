package dev.lora4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.data.DatasetReader;
import dev.lora4j.data.DatasetSplits;
import dev.lora4j.data.LabelledText;
import dev.lora4j.data.Labels;
import dev.lora4j.data.Record;
import dev.lora4j.data.Task;
import dev.lora4j.data.TopicsDataset;
import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.gpt2.Gpt2LMHeadModel;
import dev.lora4j.tokenize.Tokenizer;
import dev.lora4j.train.CausalLmTraining;
import dev.lora4j.train.EmbeddingTraining;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.train.SequenceClassification;
import dev.lora4j.train.TrainingOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `lora4j train`: LoRA fine-tuning; with no flags, all-MiniLM-L6-v2 on the built-in topics dataset. */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = {"Fine-tune a model with LoRA.",
        "With no flags: all-MiniLM-L6-v2 (from Maven Central) learns the built-in 4-topic classification task;",
        "accuracy before/after, trainable parameters, time and the adapter directory are printed.",
        "Example: lora4j train --lora-r 16 --epochs 3 --out runs/topics"})
final class TrainCommand implements Callable<Integer> {
    @Option(names = "--model", description = {"a BERT-family model: built-in name, Hugging Face directory, or Hub id org/name",
        "(from the HF cache, downloaded when missing) (default ${DEFAULT-VALUE})"})
    String model = "all-MiniLM-L6-v2";

    @Option(names = "--data", description = {"classification data: a .jsonl/.csv file of {\"text\", \"label\"}, or a directory with",
        "train.jsonl and valid.jsonl and/or test.jsonl (default: the built-in topics dataset).",
        "Causal-LM and embedding data are read but not trained yet (issue 4)."})
    Path data;

    @Option(names = "--out", description = "adapter directory (default ${DEFAULT-VALUE})")
    Path out = Path.of("runs", "minilm-topics-lora");

    @Option(names = "--method", converter = MethodConverter.class, description = {"lora, lora-fa (A frozen, only B trains), "
        + "dora (magnitude + LoRA direction), full (every weight trains) or head (only the classifier and a new pooler):",
        "the last two are the baselines LoRA is judged against (default lora)"})
    SequenceClassification.Method method = SequenceClassification.Method.LORA;

    /** Accepts the command-line spellings lora-fa and lora_fa alike. */
    static final class MethodConverter implements picocli.CommandLine.ITypeConverter<SequenceClassification.Method> {
        @Override
        public SequenceClassification.Method convert(String s) {
            for (var m : SequenceClassification.Method.values()) {
                if (m.cliName().equalsIgnoreCase(s) || m.name().equalsIgnoreCase(s)) return m;
            }
            throw new picocli.CommandLine.TypeConversionException("'" + s + "' is not a method; expected one of "
                + java.util.Arrays.stream(SequenceClassification.Method.values()).map(SequenceClassification.Method::cliName).toList());
        }
    }

    @Option(names = "--lora-r", description = "LoRA rank (default ${DEFAULT-VALUE})")
    int r = 8;

    @Option(names = "--lora-alpha", description = "LoRA alpha; the update is scaled by alpha/r (default ${DEFAULT-VALUE})")
    float alpha = 16;

    @Option(names = "--lora-dropout", description = "dropout on the LoRA input (default ${DEFAULT-VALUE})")
    float dropout = 0.05f;

    @Option(names = "--target", description = {"target modules: comma list, regex, or all-linear (default, as Peft:",
        "query,key,value,dense for BERT; q_proj,v_proj for Llama/Mistral/Qwen2; c_attn for GPT-2)"})
    String target;

    @Option(names = "--rslora", description = "scale by alpha/sqrt(r) instead of alpha/r")
    boolean rslora;

    @Option(names = "--init", description = {"how A and B start (Peft's init_lora_weights): kaiming (A Kaiming-uniform, B = 0),",
        "gaussian (A ~ N(0, 1/r)), pissa (A, B from the top-r singular triplets of W; saved converted to a rank-2r",
        "LoRA on the original base) (default kaiming)"})
    String init = "kaiming";

    @Option(names = "--lr-ratio", description = "LoRA+: B's learning rate = ratio x A's (classification; default ${DEFAULT-VALUE})")
    double lrRatio = 1;

    @Option(names = "--l2", description = "L2 penalty l2*sum(p^2) on the LoRA matrices, added to the loss (classification; default ${DEFAULT-VALUE})")
    double l2;

    @Option(names = "--epochs", description = "default ${DEFAULT-VALUE}")
    int epochs = 3;

    @Option(names = "--steps", description = "stop after N optimizer steps (0 = all epochs; default ${DEFAULT-VALUE})")
    long steps;

    @Option(names = "--batch-size", description = "default ${DEFAULT-VALUE}")
    int batchSize = 16;

    @Option(names = "--grad-accum", description = "micro-batches per optimizer step (default ${DEFAULT-VALUE})")
    int gradAccum = 1;

    @Option(names = "--lr", description = "peak learning rate (default ${DEFAULT-VALUE})")
    double lr = 1e-3;

    @Option(names = "--weight-decay", description = "default ${DEFAULT-VALUE}")
    double weightDecay = 0.01;

    @Option(names = "--warmup", description = "warmup steps (>= 1) or fraction (< 1) (default ${DEFAULT-VALUE})")
    double warmup = 0.1;

    @Option(names = "--schedule", description = "constant, linear or cosine (default ${DEFAULT-VALUE})")
    String schedule = "linear";

    @Option(names = "--max-grad-norm", description = "0 disables clipping (default ${DEFAULT-VALUE})")
    double maxGradNorm = 1.0;

    @Option(names = "--save-every", description = "checkpoint every N optimizer steps into <out>/checkpoints (0 = never; default ${DEFAULT-VALUE})")
    int saveEvery = 50;

    @Option(names = "--resume", description = "continue from the latest checkpoint in <out>/checkpoints")
    boolean resume;

    @Option(names = "--max-seq-len", description = "default ${DEFAULT-VALUE}")
    int maxSeqLen = 128;

    @Option(names = "--mask-prompt", description = "causal LM: train on completions / assistant turns only")
    boolean maskPrompt;

    @Option(names = "--pack", description = "causal LM: pack examples into rows of --max-seq-len instead of padding")
    boolean pack;

    @Option(names = "--seed", description = "default ${DEFAULT-VALUE}")
    long seed = 42;

    @Option(names = "--json", description = "print a JSON summary as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<LabelledText> train, test;
        List<String> labelNames;
        String dataName;
        if (data == null) {
            train = TopicsDataset.train();
            test = TopicsDataset.test();
            labelNames = TopicsDataset.LABELS;
            dataName = "built-in topics";
        } else {
            DatasetSplits splits = DatasetReader.readSplits(data);
            Task task = DatasetReader.inferTask(splits.train());
            if (task == Task.CAUSAL_LM) return trainCausalLm(splits);
            if (task == Task.EMBEDDING) return trainEmbedding(splits);
            List<Record> eval = splits.hasTest() ? splits.test() : splits.valid();
            if (eval.isEmpty()) {
                System.err.println("lora4j train: " + data + " has no valid or test split to measure accuracy on");
                return 2;
            }
            Labels labels = Labels.fromRecords(splits.train().stream().map(r -> (Record.Classification) r).toList());
            train = LabelledText.of(splits.train(), labels);
            test = LabelledText.of(eval, labels);
            labelNames = labels.names();
            dataName = data.toString();
        }
        LoraConfig lora = loraConfig(BERT_TARGETS);
        TrainingOptions options = trainingOptions();
        System.out.println("model: " + model + "; data: " + dataName + ", " + train.size() + " train / " + test.size()
            + " eval, labels " + labelNames);
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        SequenceClassification.Result res = new SequenceClassification(checkpoint, labelNames.size(), maxSeqLen)
            .withLabelNames(labelNames).withCheckpoints(saveEvery, resume).withLoraPlus(lrRatio, l2).run(train, test, method, lora, options, out, !json);
        var h = res.history();
        System.out.println(res.parameters());
        System.out.printf(Locale.ROOT, "test accuracy: %.1f%% before -> %.1f%% after%n", 100 * res.accuracyBefore(), 100 * res.accuracyAfter());
        System.out.printf(Locale.ROOT, "training: %d steps, %.1f s, %.0f tokens/s, final loss %.4f%n",
            h.losses().size(), h.seconds(), h.tokens() / h.seconds(), h.losses().get(h.losses().size() - 1));
        System.out.println((method.lora() ? "adapter: " : "trained weights: ")
            + res.adapterDir().toAbsolutePath() + " (loss curve: " + res.lossCurve().getFileName() + ")");
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", model);
            m.put("method", method.cliName());
            m.put("init", init);
            m.put("rslora", rslora);
            m.put("accuracy_before", res.accuracyBefore());
            m.put("accuracy_after", res.accuracyAfter());
            m.put("trainable_params", res.parameters().trainable());
            m.put("total_params", res.parameters().total());
            m.put("trainable_percent", res.parameters().percent());
            m.put("steps", h.losses().size());
            m.put("train_seconds", h.seconds());
            m.put("tokens_per_s", h.tokens() / h.seconds());
            m.put("final_loss", h.losses().get(h.losses().size() - 1));
            m.put("adapter", res.adapterDir().toAbsolutePath().toString());
            // What one ships: the adapter's weights file (LoRA) or the trained weights (full, head).
            java.nio.file.Path weights = res.adapterDir().resolve(method.lora() ? "adapter_model.safetensors" : "model.safetensors");
            m.put("adapter_bytes", java.nio.file.Files.size(weights));
            System.out.println(new ObjectMapper().writeValueAsString(m));
        }
        return 0;
    }

    /** Causal-LM LoRA on a decoder (GPT-2, Llama, Mistral, Qwen2) from a directory or Hub id. */
    private int trainCausalLm(DatasetSplits splits) throws Exception {
        if (model.equals("all-MiniLM-L6-v2")) {
            System.err.println("lora4j train: " + data + " holds causal-LM data; give a decoder with --model (a Hugging Face directory or org/name)");
            return 2;
        }
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        CausalLanguageModel lm = PretrainedModels.causalLm(dir);
        LoraConfig lora = loraConfig(lm instanceof Gpt2LMHeadModel ? "c_attn" : "q_proj,v_proj");
        TrainingOptions options = trainingOptions();
        List<Record> valid = splits.hasValid() ? splits.valid() : splits.test();
        System.out.println("model: " + model + "; data: " + data + ", " + splits.train().size() + " train / " + valid.size() + " valid records");
        try (Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            CausalLmTraining.Result res = new CausalLmTraining(lm, tok, model, maxSeqLen, maskPrompt, pack)
                .run(splits.train(), valid, lora, options, out, !json, saveEvery, resume);
            var h = res.history();
            System.out.println(res.parameters());
            System.out.printf(Locale.ROOT, "validation loss %.4f -> %.4f (perplexity %.2f -> %.2f)%n", res.lossBefore(), res.lossAfter(),
                res.perplexityBefore(), res.perplexityAfter());
            System.out.printf(Locale.ROOT, "training: %d steps, %.1f s, %.0f tokens/s%n", h.losses().size(), h.seconds(), h.tokens() / h.seconds());
            System.out.println("adapter: " + res.adapterDir().toAbsolutePath() + " (loss curve: " + res.lossCurve().getFileName() + ")");
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("model", model);
                m.put("task", "causal-lm");
                m.put("valid_loss_before", res.lossBefore());
                m.put("valid_loss_after", res.lossAfter());
                m.put("trainable_params", res.parameters().trainable());
                m.put("steps", h.losses().size());
                m.put("train_seconds", h.seconds());
                m.put("adapter", res.adapterDir().toAbsolutePath().toString());
                System.out.println(new ObjectMapper().writeValueAsString(m));
            }
        }
        return 0;
    }

    /** Contrastive LoRA on a sentence-embedding model from (anchor, positive[, negative]) pairs. */
    private int trainEmbedding(DatasetSplits splits) throws Exception {
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        LoraConfig lora = loraConfig(BERT_TARGETS);
        TrainingOptions options = trainingOptions();
        List<Record.Pair> train = splits.train().stream().map(x -> (Record.Pair) x).toList();
        List<Record> evalRecords = splits.hasTest() ? splits.test() : splits.valid();
        List<Record.Pair> eval = evalRecords.stream().map(x -> (Record.Pair) x).toList();
        System.out.println("model: " + model + "; data: " + data + ", " + train.size() + " train / " + eval.size() + " eval pairs");
        EmbeddingTraining.Result res = new EmbeddingTraining(checkpoint, maxSeqLen)
            .run(train, eval, lora, options, out, !json, saveEvery, resume);
        var h = res.history();
        System.out.println(res.parameters());
        System.out.printf(Locale.ROOT, "retrieval accuracy@1 %.1f%% -> %.1f%%, MRR %.3f -> %.3f%n", 100 * res.before().accuracyAt1(),
            100 * res.after().accuracyAt1(), res.before().mrr(), res.after().mrr());
        System.out.printf(Locale.ROOT, "training: %d steps, %.1f s%n", h.losses().size(), h.seconds());
        System.out.println("adapter: " + res.adapterDir().toAbsolutePath() + " (loss curve: " + res.lossCurve().getFileName() + ")");
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", model);
            m.put("task", "embedding");
            m.put("accuracy_at_1_before", res.before().accuracyAt1());
            m.put("accuracy_at_1_after", res.after().accuracyAt1());
            m.put("mrr_before", res.before().mrr());
            m.put("mrr_after", res.after().mrr());
            m.put("trainable_params", res.parameters().trainable());
            m.put("adapter", res.adapterDir().toAbsolutePath().toString());
            System.out.println(new ObjectMapper().writeValueAsString(m));
        }
        return 0;
    }

    /** Peft's default targets for BERT-family models (lora4j adds the dense layers). */
    private static final String BERT_TARGETS = "query,key,value,dense";

    /** The LoRA flags; {@code --target} when given, else the architecture's default. */
    private LoraConfig loraConfig(String defaultTargets) {
        LoraConfig.Init i = switch (init.toLowerCase(Locale.ROOT)) {
            case "kaiming", "true", "default" -> LoraConfig.Init.KAIMING;
            case "gaussian" -> LoraConfig.Init.GAUSSIAN;
            case "pissa" -> LoraConfig.Init.PISSA;
            default -> throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                "--init '" + init + "' unknown; expected kaiming, gaussian or pissa");
        };
        return method.configure(LoraConfig.of(r, alpha, target != null ? target : defaultTargets).withDropout(dropout)
            .withRslora(rslora).withInit(i));
    }

    private TrainingOptions trainingOptions() {
        return new TrainingOptions(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, steps);
    }
}
