package dev.lora4j.cli;

import dev.lora4j.compress.ModelCompression;
import dev.lora4j.data.DatasetReader;
import dev.lora4j.data.DatasetSplits;
import dev.lora4j.data.Record;
import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.MergedModelWriter;
import dev.lora4j.peft.TargetModules;
import dev.lora4j.tokenize.Tokenizer;
import dev.lora4j.train.CausalLmTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `lora4j compress`: truncated-SVD (plus optional pruning and int8 or NF4) of a decoder's or a BERT encoder's linear layers,
 * with the trade-off printed (decoders: eval loss on --data; encoders: see {@link EncoderCompression}).
 */
@Command(name = "compress", mixinStandardHelpOptions = true,
    description = {"Replace a decoder's weight matrices by their best rank-r approximations (truncated SVD), optionally prune",
        "and quantize them, and write the result as a Hugging Face directory; prints parameters and bytes before/after",
        "and, with --data, the eval loss before/after. A BERT encoder (all-MiniLM-L6-v2 or a BERT directory) reports instead",
        "the embeddings' mean cosine to the original and a nearest-centroid accuracy on the built-in topics data.",
        "Example: lora4j compress --model path/to/model --rank 64 --data valid.jsonl --out compressed/"})
final class CompressCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "decoder: Hugging Face directory or Hub id; or a BERT encoder (all-MiniLM-L6-v2, a BERT directory)")
    String model;

    @Option(names = "--rank", description = "rank of every compressed matrix (0: no factorisation) (default ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--prune", description = "fraction of each matrix's smallest-magnitude weights set to zero (default ${DEFAULT-VALUE})")
    double prune;

    @Option(names = "--quantize", description = "int8 (per-row absmax), nf4 (QLoRA's 4-bit NormalFloat, blocks of 64, double-quantized scales) or none (default ${DEFAULT-VALUE})")
    String quantize = "none";

    @Option(names = "--target", description = "which linear layers: comma list, regex, or all-linear (default ${DEFAULT-VALUE}: all but lm_head)")
    String target = "all-linear";

    @Option(names = "--data", description = "causal-LM records to measure eval loss on, before and after (a file, or a split directory's valid/test)")
    Path data;

    @Option(names = "--max-seq-len", description = "default ${DEFAULT-VALUE}")
    int maxSeqLen = 128;

    @Option(names = "--sentences", description = "encoders: topics test sentences measured, centroids from twice as many training ones (default ${DEFAULT-VALUE})")
    int sentences = 200;

    @Option(names = "--out", required = true, description = "output model directory")
    Path out;

    @Override
    public Integer call() throws Exception {
        ModelCompression.Options options = new ModelCompression.Options(rank, prune, ModelCompression.Quantization.parse(quantize),
            TargetModules.parse(target));
        if (EncoderCompression.isEncoder(model)) return compressEncoder(options);
        Path dir = HubClient.resolve(model, DownloadListener.NONE);
        CausalLanguageModel lm = PretrainedModels.causalLm(dir);
        List<Record> records = null;
        if (data != null) {
            DatasetSplits s = Files.isDirectory(data) ? DatasetReader.readSplits(data) : null;
            records = s == null ? DatasetReader.read(data) : s.hasTest() ? s.test() : s.hasValid() ? s.valid() : s.train();
        }
        try (Tokenizer tok = records == null ? null : Tokenizer.fromDirectory(dir)) {
            CausalLmTraining eval = records == null ? null : new CausalLmTraining(lm, tok, model, maxSeqLen, false, false);
            Double before = eval == null ? null : eval.evaluate(records, 8).loss();
            ModelCompression.Report r = ModelCompression.compress((Module) lm, options);
            Double after = eval == null ? null : eval.evaluate(records, 8).loss();
            double worst = r.layers().stream().mapToDouble(ModelCompression.Layer::relativeError).max().orElse(0);
            System.out.printf(Locale.ROOT, "compressed %d matrices: parameters %,d -> %,d (%.1f%%), bytes %,d -> %,d (%.1f%%); "
                    + "largest relative error ||W-W'||/||W|| %.4f%n", r.layers().size(), r.paramsBefore(), r.paramsAfter(),
                100.0 * r.paramsAfter() / r.paramsBefore(), r.bytesBefore(), r.bytesAfter(), 100.0 * r.bytesAfter() / r.bytesBefore(), worst);
            if (before != null) {
                System.out.printf(Locale.ROOT, "eval loss %.4f -> %.4f (perplexity %.2f -> %.2f) on %d records%n", before, after,
                    Math.exp(before), Math.exp(after), records.size());
            }
        }
        // The directory keeps dense weights (the same architecture loads it); the counts above are the compressed form's.
        MergedModelWriter.write((Module) lm, HfModelDirectory.open(dir), out);
        System.out.println("model -> " + out.toAbsolutePath());
        return 0;
    }

    private int compressEncoder(ModelCompression.Options options) throws Exception {
        if (data != null) throw new IllegalArgumentException("--data is for decoders; an encoder is measured on the built-in topics data");
        EncoderCompression.Result res = EncoderCompression.run(model, options, maxSeqLen, sentences, out);
        ModelCompression.Report r = res.report();
        double worst = r.layers().stream().mapToDouble(ModelCompression.Layer::relativeError).max().orElse(0);
        System.out.printf(Locale.ROOT, "compressed %d matrices: parameters %,d -> %,d (%.1f%%), bytes %,d -> %,d (%.1f%%); "
                + "largest relative error ||W-W'||/||W|| %.4f%n", r.layers().size(), r.paramsBefore(), r.paramsAfter(),
            100.0 * r.paramsAfter() / r.paramsBefore(), r.bytesBefore(), r.bytesAfter(), 100.0 * r.bytesAfter() / r.bytesBefore(), worst);
        System.out.printf(Locale.ROOT, "embeddings: mean cosine to the original %.4f (min %.4f); nearest-centroid topic accuracy %.1f%% -> %.1f%%%n",
            res.meanCosine(), res.minCosine(), 100 * res.accuracyBefore(), 100 * res.accuracyAfter());
        System.out.println("model -> " + out.toAbsolutePath());
        return 0;
    }
}
