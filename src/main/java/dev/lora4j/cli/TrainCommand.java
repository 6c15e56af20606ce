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
import dev.lora4j.peft.BaseDType;
import dev.lora4j.peft.LoraConfig;
import dev.lora4j.train.SequenceClassification;
import dev.lora4j.train.TrainingOptions;
import dev.lora4j.io.AtomicFiles;
import dev.lora4j.peft.TrainableParameters;
import dev.lora4j.train.ModelCard;
import dev.lora4j.train.TrainingHistory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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

    @Option(names = "--data", description = {"a .jsonl/.csv file, or a directory with train.jsonl and valid.jsonl and/or test.jsonl:",
        "{\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"} train a causal LM; {\"text\",\"label\"} a classifier;",
        "{\"anchor\",\"positive\"[,\"negative\"]} a sentence-embedding model (default: the built-in topics dataset)"})
    Path data;

    @Option(names = "--eval-data", description = "held-out records to evaluate on (default: the data's valid split, else its test split)")
    Path evalData;

    @Option(names = "--task", description = "causal-lm, classification or embedding (default: inferred from the data)")
    String task;

    @Option(names = "--config", paramLabel = "FILE", description = {"a YAML file of option names to values (lr: 2e-4, lora-r: 16, ...);",
        "flags on the command line override it"})
    Path config;

    @Option(names = "--out", description = "adapter directory (default ${DEFAULT-VALUE})")
    Path out = Path.of("runs", "minilm-topics-lora");

    @Option(names = "--method", converter = MethodConverter.class, description = {"lora, qlora (LoRA on a base quantized to NF4), lora-fa (A frozen, only B trains), "
        + "dora (magnitude + LoRA direction), adalora (adaptive rank budget), glora (generalized LoRA: W0 + W0⊙A + B and a learned bias), full (every weight trains) or head (only the classifier and a new pooler):",
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

    @Option(names = "--base-dtype", description = {"storage of the frozen base's linear weights: f32 (as loaded), bf16, int8 (per-row",
        "absmax) or nf4 (QLoRA's double-quantized 4-bit NormalFloat; --method qlora sets it) (default ${DEFAULT-VALUE})"})
    BaseDType baseDType = BaseDType.F32;

    @Option(names = "--grad-checkpoint", description = {"gradient checkpointing: keep only each layer's input and recompute its",
        "activations during backward (less memory, about one more forward per step)"})
    boolean gradCheckpoint;

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

    // LoRA family part 2 (issue 7): per-module ranks and alphas, as Peft's rank_pattern / alpha_pattern.
    @Option(names = "--rank-pattern", paramLabel = "REGEX=R", description = {"per-module rank, repeatable: the first regex that",
        "matches a whole dotted suffix of the module path wins (Peft's rank_pattern), e.g. --rank-pattern 'layers\\.0\\..*=16'"})
    Map<String, Integer> rankPattern = new LinkedHashMap<>();

    @Option(names = "--alpha-pattern", paramLabel = "REGEX=ALPHA", description = "per-module alpha, repeatable, matched as --rank-pattern")
    Map<String, Float> alphaPattern = new LinkedHashMap<>();

    @Option(names = "--rank-schedule", paramLabel = "R@STEP,...", description = {"grow the LoRA rank during training, e.g. 2@0,4@100,8@200:",
        "2 directions from the start, 4 after 100 steps, 8 after 200 (up to --lora-r); new directions start at zero"})
    String rankSchedule;

    @Option(names = "--teacher", description = {"distillation (causal LM): a larger decoder whose logits the student also learns from;",
        "it must share the student's tokenizer (Hugging Face directory or Hub id)"})
    String teacher;

    @Option(names = "--teacher-adapter", description = "a Peft adapter merged into the teacher first")
    Path teacherAdapter;

    @Option(names = "--distill-alpha", description = "weight of the KL term: loss = (1-a)*CE + a*T^2*KL (default ${DEFAULT-VALUE})")
    float distillAlpha = 0.5f;

    @Option(names = "--temperature", description = "distillation temperature T softening both distributions (default ${DEFAULT-VALUE})")
    float temperature = 2f;

    @Option(names = "--init-r", description = "AdaLoRA (--method adalora): every layer's starting rank; --lora-r is the target average rank (default ${DEFAULT-VALUE})")
    int initR = 12;

    @Option(names = "--tinit", description = "AdaLoRA: warm-up steps before pruning (default ${DEFAULT-VALUE})")
    int tinit;

    @Option(names = "--tfinal", description = "AdaLoRA: final steps with the allocation fixed (default ${DEFAULT-VALUE})")
    int tfinal;

    @Option(names = "--delta-t", description = "AdaLoRA: steps between budget allocations (default ${DEFAULT-VALUE})")
    int deltaT = 1;

    @Option(names = "--adalora-beta1", description = "AdaLoRA: EMA factor of the sensitivity (default ${DEFAULT-VALUE})")
    double adaBeta1 = 0.85;

    @Option(names = "--adalora-beta2", description = "AdaLoRA: EMA factor of the uncertainty (default ${DEFAULT-VALUE})")
    double adaBeta2 = 0.85;

    @Option(names = "--orth-reg-weight", description = "AdaLoRA: weight of the orthogonality regulariser (default ${DEFAULT-VALUE})")
    double orthRegWeight = 0.5;

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

    @Option(names = "--optimizer", description = "adamw or sgd (default ${DEFAULT-VALUE})")
    String optimizer = "adamw";

    @Option(names = "--weight-decay", description = "decoupled (AdamW) or L2 (SGD) weight decay; 0 as transformers' default (default ${DEFAULT-VALUE})")
    double weightDecay = 0.0;

    @Option(names = "--warmup", description = "warmup steps (>= 1) or fraction (< 1) (default ${DEFAULT-VALUE})")
    double warmup = 0.1;

    @Option(names = "--schedule", description = "constant, linear or cosine (default ${DEFAULT-VALUE})")
    String schedule = "linear";

    @Option(names = "--max-grad-norm", description = "0 disables clipping (default ${DEFAULT-VALUE})")
    double maxGradNorm = 1.0;

    @Option(names = "--eval-every", description = "evaluate every N optimizer steps (0 = before and after only; default ${DEFAULT-VALUE})")
    int evalEvery;

    @Option(names = "--save-every", description = "checkpoint every N optimizer steps into <out>/checkpoint-N (0 = never; default ${DEFAULT-VALUE})")
    int saveEvery = 50;

    @Option(names = "--resume", description = "continue from <out>/latest_checkpoint")
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

    @Spec
    CommandSpec spec;

    /** What one task's run reports, for the summary lines, the --json object and the model card. */
    private record Outcome(String task, Map<String, Object> metrics, TrainableParameters parameters, TrainingHistory history,
                           Path outputDir, Path lossCurve) {}

    @Override
    public Integer call() throws Exception {
        Outcome outcome;
        String dataName;
        if (data == null) {
            dataName = "the built-in topics dataset";
            if (task != null && Task.parse(task) != Task.CLASSIFICATION) {
                throw new IllegalArgumentException("the built-in dataset is classification data; give --data for --task " + task);
            }
            List<Record> eval = evalData == null ? List.of() : DatasetReader.read(evalData);
            if (eval.isEmpty()) {
                outcome = trainClassifier(TopicsDataset.train(), TopicsDataset.test(), TopicsDataset.LABELS, dataName);
            } else {
                Labels labels = Labels.of(TopicsDataset.LABELS);
                outcome = trainClassifier(TopicsDataset.train(), LabelledText.of(eval, labels), labels.names(), dataName);
            }
        } else {
            dataName = data.toString();
            DatasetSplits splits = DatasetReader.readSplits(data);
            Task inferred = splits.inferTask();
            Task chosen = task == null ? inferred : Task.parse(task);
            if (chosen != inferred) {
                throw new IllegalArgumentException(data + " holds " + splits.train().getFirst().format().description() + ", which train "
                    + inferred + ", not " + chosen + "; give matching data or drop --task");
            }
            List<Record> eval = evalRecords(splits);
            outcome = switch (chosen) {
                case CAUSAL_LM -> trainCausalLm(splits.train(), eval);
                case EMBEDDING -> trainEmbedding(splits.train(), eval);
                case CLASSIFICATION -> {
                    if (eval.isEmpty()) {
                        throw new IllegalArgumentException(data + " has no valid or test split to measure accuracy on; add one or give --eval-data");
                    }
                    Labels labels = Labels.fromRecords(splits.train().stream().map(r -> (Record.Classification) r).toList());
                    yield trainClassifier(LabelledText.of(splits.train(), labels), LabelledText.of(eval, labels), labels.names(), dataName);
                }
            };
        }
        TrainingHistory h = outcome.history();
        System.out.printf(Locale.ROOT, "training: %d steps, %.1f s, %.0f tokens/s%s%n", h.losses().size(), h.seconds(), h.tokens() / h.seconds(),
            h.losses().isEmpty() ? "" : String.format(Locale.ROOT, ", final loss %.4f", h.losses().getLast()));
        System.out.println((method.lora() ? "adapter: " : "trained weights: ")
            + outcome.outputDir().toAbsolutePath() + " (loss curve: " + outcome.lossCurve().getFileName() + ", metrics.jsonl, README.md)");

        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("model", model);
        summary.put("task", outcome.task());
        summary.put("method", method.cliName());
        summary.put("init", init);
        summary.put("rslora", rslora);
        summary.putAll(outcome.metrics());
        summary.put("trainable_params", outcome.parameters().trainable());
        summary.put("total_params", outcome.parameters().total());
        summary.put("trainable_percent", outcome.parameters().percent());
        summary.put("steps", h.losses().size());
        summary.put("train_seconds", h.seconds());
        summary.put("tokens_per_s", h.tokens() / h.seconds());
        summary.put("final_loss", h.losses().isEmpty() ? Double.NaN : h.losses().getLast());
        summary.put("adapter", outcome.outputDir().toAbsolutePath().toString());
        // What one ships: the adapter's weights file (LoRA) or the trained weights (full, head).
        Path weights = outcome.outputDir().resolve(method.lora() ? "adapter_model.safetensors" : "model.safetensors");
        if (java.nio.file.Files.exists(weights)) summary.put("adapter_bytes", java.nio.file.Files.size(weights));
        writeRunFiles(outcome, dataName, summary);
        if (json) System.out.println(JSON.writeValueAsString(summary));
        return 0;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** --eval-data when given, else the valid split, else the test split (empty when the data has neither). */
    private List<Record> evalRecords(DatasetSplits splits) {
        if (evalData == null) return splits.hasValid() ? splits.valid() : splits.test();
        List<Record> eval = DatasetReader.read(evalData);
        Record.Format want = splits.train().getFirst().format(), got = eval.getFirst().format();
        if (want != got) {
            throw new IllegalArgumentException(evalData + ": records are " + got.description() + " but the training data has "
                + want.description() + "; --eval-data must have the same format");
        }
        return eval;
    }

    /** training_args.json (every option's value) and the README.md model card, beside the adapter. */
    private void writeRunFiles(Outcome outcome, String dataName, Map<String, Object> summary) throws IOException {
        Map<String, Object> args = new LinkedHashMap<>();
        for (OptionSpec o : spec.options()) {
            if (o.usageHelp() || o.versionHelp()) continue;
            Object v = o.getValue();
            if (v instanceof SequenceClassification.Method m) v = m.cliName();
            else if (v instanceof Enum<?> e) v = e.name().toLowerCase(Locale.ROOT);
            else if (v instanceof Path p) v = p.toString();
            args.put(o.longestName().substring(2), v);
        }
        AtomicFiles.write(outcome.outputDir().resolve("training_args.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(args));
        List<String> typed = spec.commandLine().getParseResult().originalArgs();
        // The parse result holds the whole command line, the subcommand's name first.
        if (!typed.isEmpty() && typed.getFirst().equals(spec.name())) typed = typed.subList(1, typed.size());
        String command = "lora4j train " + String.join(" ", typed);
        new ModelCard(model, outcome.task(), method.cliName(), dataName, command.trim(),
            outcome.parameters().toString(), summary).write(outcome.outputDir());
    }

    /** Sequence classification on a BERT-family encoder: LoRA, or the full / head-only baselines. */
    private Outcome trainClassifier(List<LabelledText> train, List<LabelledText> eval, List<String> labelNames, String dataName) throws Exception {
        if (teacher != null) throw new IllegalArgumentException("--teacher distils causal language models only so far");
        requireF32BaseForGlora();
        LoraConfig lora = loraConfig(BERT_TARGETS);
        TrainingOptions options = trainingOptions();
        System.out.println("model: " + model + "; data: " + dataName + ", " + train.size() + " train / " + eval.size()
            + " eval, labels " + labelNames);
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        SequenceClassification driver = new SequenceClassification(checkpoint, labelNames.size(), maxSeqLen)
            .withLabelNames(labelNames).withCheckpoints(saveEvery, resume).withRankSchedule(rankSchedule()).withAdaLora(adaLoraConfig(lora))
            .withBaseDType(baseDType).withLoraPlus(lrRatio, l2).withGradientCheckpointing(gradCheckpoint);
        SequenceClassification.Result res = driver.run(train, eval, method, lora, options, out, !json);
        if (driver.baseSummary() != null) System.out.println(driver.baseSummary());
        System.out.println(res.parameters());
        System.out.printf(Locale.ROOT, "eval accuracy: %.1f%% before -> %.1f%% after%n", 100 * res.accuracyBefore(), 100 * res.accuracyAfter());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("accuracy_before", res.accuracyBefore());
        m.put("accuracy_after", res.accuracyAfter());
        m.put("truncated_examples", driver.truncatedExamples());
        if (driver.baseSummary() != null) m.put("base_bytes_per_weight", driver.baseSummary().bytesPerParameter());
        return new Outcome(Task.CLASSIFICATION.cliName(), m, res.parameters(), res.history(), res.adapterDir(), res.lossCurve());
    }

    /** Causal-LM LoRA on a decoder (GPT-2, Llama, Mistral, Qwen2) from a directory or Hub id. */
    private Outcome trainCausalLm(List<Record> train, List<Record> valid) throws Exception {
        if (method != SequenceClassification.Method.ADALORA && method != SequenceClassification.Method.GLORA) requireLoraMethod(Task.CAUSAL_LM);
        requireF32BaseForGlora();
        if (model.equals("all-MiniLM-L6-v2")) {
            throw new IllegalArgumentException(data + " holds causal-LM data; give a decoder with --model (a Hugging Face directory or org/name)");
        }
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        CausalLanguageModel lm = PretrainedModels.causalLm(dir);
        LoraConfig lora = loraConfig(lm instanceof Gpt2LMHeadModel ? "c_attn" : "q_proj,v_proj");
        System.out.println("model: " + model + "; data: " + data + ", " + train.size() + " train / " + valid.size() + " eval records");
        try (Tokenizer tok = Tokenizer.fromDirectory(dir)) {
            CausalLmTraining driver = new CausalLmTraining(lm, tok, model, maxSeqLen, maskPrompt, pack).withRankSchedule(rankSchedule())
                .withBaseDType(method == SequenceClassification.Method.QLORA ? BaseDType.NF4 : baseDType)
                .withGradientCheckpointing(gradCheckpoint);
            if (teacher != null) driver.withTeacher(loadTeacher(), distillAlpha, temperature);
            if (method == SequenceClassification.Method.ADALORA) driver.withAdaLora(adaLoraConfig(lora));
            driver.withGlora(method == SequenceClassification.Method.GLORA);
            CausalLmTraining.Result res = driver.run(train, valid, lora, trainingOptions(), out, !json, saveEvery, resume);
            if (driver.baseSummary() != null) System.out.println(driver.baseSummary());
            System.out.println(res.parameters());
            System.out.printf(Locale.ROOT, "eval loss %.4f -> %.4f (perplexity %.2f -> %.2f)%n", res.lossBefore(), res.lossAfter(),
                res.perplexityBefore(), res.perplexityAfter());
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("eval_loss_before", res.lossBefore());
            m.put("eval_loss_after", res.lossAfter());
            m.put("perplexity_before", res.perplexityBefore());
            m.put("perplexity_after", res.perplexityAfter());
            m.put("truncated_examples", driver.truncatedExamples());
            if (driver.baseSummary() != null) m.put("base_bytes_per_weight", driver.baseSummary().bytesPerParameter());
            return new Outcome(Task.CAUSAL_LM.cliName(), m, res.parameters(), res.history(), res.adapterDir(), res.lossCurve());
        }
    }

    /** Contrastive LoRA on a sentence-embedding model from (anchor, positive[, negative]) pairs. */
    private Outcome trainEmbedding(List<Record> trainRecords, List<Record> evalRecords) throws Exception {
        if (teacher != null) throw new IllegalArgumentException("--teacher distils causal language models only so far");
        requireLoraMethod(Task.EMBEDDING);
        BertCheckpoint checkpoint = BertCheckpoint.load(model);
        List<Record.Pair> train = trainRecords.stream().map(x -> (Record.Pair) x).toList();
        List<Record.Pair> eval = evalRecords.stream().map(x -> (Record.Pair) x).toList();
        System.out.println("model: " + model + "; data: " + data + ", " + train.size() + " train / " + eval.size() + " eval pairs");
        EmbeddingTraining driver = new EmbeddingTraining(checkpoint, maxSeqLen).withGradientCheckpointing(gradCheckpoint);
        EmbeddingTraining.Result res = driver.run(train, eval, loraConfig(BERT_TARGETS), trainingOptions(), out, !json, saveEvery, resume);
        System.out.println(res.parameters());
        System.out.printf(Locale.ROOT, "retrieval accuracy@1 %.1f%% -> %.1f%%, MRR %.3f -> %.3f%n", 100 * res.before().accuracyAt1(),
            100 * res.after().accuracyAt1(), res.before().mrr(), res.after().mrr());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("accuracy_at_1_before", res.before().accuracyAt1());
        m.put("accuracy_at_1_after", res.after().accuracyAt1());
        m.put("mrr_before", res.before().mrr());
        m.put("mrr_after", res.after().mrr());
        m.put("truncated_examples", driver.truncatedExamples());
        return new Outcome(Task.EMBEDDING.cliName(), m, res.parameters(), res.history(), res.adapterDir(), res.lossCurve());
    }

    /** GLoRA reads W0 elementwise (W0⊙A, W0·C), which lora4j does on F32 bases only. */
    private void requireF32BaseForGlora() {
        if (method == SequenceClassification.Method.GLORA && baseDType != BaseDType.F32) {
            throw new IllegalArgumentException("--method glora needs an F32 base (--base-dtype f32), got " + baseDType);
        }
    }

    /** Full and head-only training exist for classification, where they are LoRA's baselines. */
    private void requireLoraMethod(Task t) {
        if (!method.lora()) {
            throw new IllegalArgumentException("--method " + method.cliName() + " is for classification; " + t
                + " trains with lora, lora-fa, dora" + (t == Task.CAUSAL_LM ? ", qlora, adalora or glora" : ""));
        }
        if (t == Task.EMBEDDING && (method == SequenceClassification.Method.QLORA || method == SequenceClassification.Method.ADALORA
            || method == SequenceClassification.Method.GLORA)) {
            throw new IllegalArgumentException("--method " + method.cliName() + " is for classification and causal-LM training, not " + t);
        }
        if (t == Task.EMBEDDING && baseDType != BaseDType.F32) {
            throw new IllegalArgumentException("--base-dtype is for classification and causal-LM training, not " + t);
        }
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
            .withRslora(rslora).withInit(i).withPatterns(rankPattern, alphaPattern));
    }

    /** The --teacher decoder, with --teacher-adapter merged in when given. */
    private CausalLanguageModel loadTeacher() throws Exception {
        CausalLanguageModel t = PretrainedModels.causalLm(HubClient.resolve(teacher, DownloadListener.NONE));
        if (teacherAdapter != null) dev.lora4j.peft.PeftAdapterReader.load((dev.lora4j.nn.Module) t, teacherAdapter, "teacher", 0).mergeAndUnload();
        System.out.println("teacher: " + teacher + (teacherAdapter == null ? "" : " + " + teacherAdapter) + "; distill alpha " + distillAlpha
            + ", temperature " + temperature);
        return t;
    }

    /** AdaLoRA's settings from the flags: target_r is --lora-r; total_step is filled in by the run. */
    private dev.lora4j.peft.AdaLoraConfig adaLoraConfig(LoraConfig lora) {
        return new dev.lora4j.peft.AdaLoraConfig(lora, r, Math.max(initR, r), tinit, tfinal, deltaT, adaBeta1, adaBeta2, orthRegWeight, Long.MAX_VALUE);
    }

    private dev.lora4j.peft.RankSchedule rankSchedule() {
        return rankSchedule == null ? null : dev.lora4j.peft.RankSchedule.parse(rankSchedule);
    }

    private TrainingOptions trainingOptions() {
        return new TrainingOptions(epochs, batchSize, gradAccum, lr, weightDecay, warmup, schedule, maxGradNorm, seed, steps,
            optimizer, evalEvery);
    }
}
