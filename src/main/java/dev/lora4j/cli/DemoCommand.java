package dev.lora4j.cli;

import dev.lora4j.bench.AdaptationBenchmark;
import dev.lora4j.bench.AdaptationBenchmark.Options;
import dev.lora4j.bench.AdaptationBenchmark.Report;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** `lora4j demo cnn|lstm|all`: pretrain a CNN / LSTM on a generated task, adapt it to a shifted one with LoRA, full fine-tuning and head-only. */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"LoRA beyond transformers: pretrains a small ResNet (rendered shapes) or a bidirectional LSTM (symbol counting),",
        "then adapts it to a shifted task with LoRA, full fine-tuning and head-only training, and compares accuracy,",
        "trainable parameters and time. Writes the pretrained model and the LoRA adapter under --out.",
        "Example: lora4j demo all"})
final class DemoCommand implements Callable<Integer> {
    @Parameters(paramLabel = "WHICH", defaultValue = "all", description = "cnn, lstm or all (default)")
    String which;

    @Option(names = "--out", defaultValue = "runs/demo", description = "directory for models and adapters (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "seed of data, initialisation and order")
    long seed;

    @Option(names = "--rank", defaultValue = "4", description = "LoRA rank (alpha = 2 x rank)")
    int rank;

    @Override
    public Integer call() throws Exception {
        Options d = Options.defaults();
        Options o = new Options(d.trainCount(), d.testCount(), d.pretrainEpochs(), d.adaptCount(), d.adaptEpochs(), d.batch(), rank, 2f * rank, seed);
        PrintStream log = System.out;
        List<Report> reports = new ArrayList<>();
        for (String kind : switch (which) {
            case "cnn" -> List.of("cnn");
            case "lstm" -> List.of("lstm");
            case "all" -> List.of("cnn", "lstm");
            default -> throw new IllegalArgumentException("demo: expected cnn, lstm or all, got '" + which + "'");
        }) {
            Path dir = out.resolve(kind);
            Files.createDirectories(dir);
            reports.add(kind.equals("cnn") ? AdaptationBenchmark.cnn(o, dir, log) : AdaptationBenchmark.lstm(o, dir, log));
        }
        log.println();
        log.println("| net | method | shifted-task accuracy | trainable parameters | trainable % | adaptation time |");
        log.println("|---|---|---:|---:|---:|---:|");
        for (Report r : reports) {
            for (AdaptationBenchmark.Result x : r.results()) {
                log.printf(Locale.ROOT, "| %s | %s | %.1f%% | %,d | %.2f%% | %.1f s |%n", r.name(), x.method().name().toLowerCase(Locale.ROOT),
                    100 * x.accuracy(), x.trainable(), x.percent(), x.seconds());
            }
        }
        for (Report r : reports) {
            log.printf(Locale.ROOT, "%s: pretrained %,d parameters to %.1f%% in %.1f s%s; adapter and model in %s%n", r.name(), r.parameters(),
                100 * r.pretrainAccuracy(), r.pretrainSeconds(),
                r.shiftedBefore() < 0 ? "" : String.format(Locale.ROOT, " (%.1f%% on the shifted task before adapting)", 100 * r.shiftedBefore()),
                out.resolve(r.name()));
        }
        return 0;
    }
}
