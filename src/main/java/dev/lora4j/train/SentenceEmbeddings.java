package dev.lora4j.train;

import dev.lora4j.autograd.Tape;
import dev.lora4j.data.Record;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.peft.PeftAdapterReader;
import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Sentence embeddings for many texts (sentence-transformers' encode: mean pooling, L2 norm), batched, padded and
 * truncated; optionally through a LoRA adapter; and the retrieval quality of those embeddings on pairs.
 */
public final class SentenceEmbeddings {

    /** Retrieval quality over (anchor, positive) pairs: each anchor ranks all positives by cosine similarity. */
    public record Retrieval(double accuracyAt1, double mrr) {}

    private static final int EVAL_BATCH = 32;

    private final BertModel model;
    private final Tokenizer tokenizer;

    public SentenceEmbeddings(BertCheckpoint checkpoint, int maxSeqLen) {
        this(new BertModel(checkpoint.config(), checkpoint.weights(), checkpoint.prefix(), false), tokenizer(checkpoint, maxSeqLen));
        model.train(false);
    }

    /** Embeddings of the checkpoint with a Peft adapter (as train writes for embedding data) applied. */
    public static SentenceEmbeddings withAdapter(BertCheckpoint checkpoint, int maxSeqLen, Path adapterDir) throws IOException {
        SentenceEmbeddings e = new SentenceEmbeddings(checkpoint, maxSeqLen);
        PeftAdapterReader.load(e.model, adapterDir, "default", 0);
        e.model.train(false);
        return e;
    }

    /** The encoder itself, for callers that change its weights in place (compress) and embed again. */
    public BertModel model() {
        return model;
    }

    /** Embeds with {@code model} as it is now (a model in training, say); the caller sets its train/eval mode. */
    SentenceEmbeddings(BertModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    static Tokenizer tokenizer(BertCheckpoint checkpoint, int maxSeqLen) {
        return checkpoint.tokenizer().withOptions(Tokenizer.Options.builder()
            .padding(Tokenizer.Padding.LONGEST).truncation(true).maxLength(maxSeqLen).build());
    }

    /** One unit-length vector per text, in order. */
    public List<float[]> embed(List<String> texts, int batchSize) {
        List<float[]> out = new ArrayList<>(texts.size());
        int dim = model.config().hiddenSize();
        try (var s = Tape.noGrad()) {
            for (int i = 0; i < texts.size(); i += batchSize) {
                BertModel.Batch in = batch(tokenizer.encodeBatch(texts.subList(i, Math.min(texts.size(), i + batchSize))));
                float[] e = model.embed(in).data();
                for (int j = 0; j < in.batch(); j++) out.add(Arrays.copyOfRange(e, j * dim, (j + 1) * dim));
            }
        }
        return out;
    }

    /** Each anchor ranks every pair's positive by cosine; accuracy@1 and mean reciprocal rank of its own. */
    public Retrieval retrieval(List<Record.Pair> pairs) {
        if (pairs.isEmpty()) return new Retrieval(Double.NaN, Double.NaN);
        List<float[]> a = embed(pairs.stream().map(Record.Pair::anchor).toList(), EVAL_BATCH);
        List<float[]> p = embed(pairs.stream().map(Record.Pair::positive).toList(), EVAL_BATCH);
        int n = pairs.size(), hits = 0;
        double rr = 0;
        for (int i = 0; i < n; i++) {
            double own = dot(a.get(i), p.get(i));
            int rank = 1;
            for (int j = 0; j < n; j++) if (j != i && dot(a.get(i), p.get(j)) > own) rank++;
            if (rank == 1) hits++;
            rr += 1.0 / rank;
        }
        return new Retrieval((double) hits / n, rr / n);
    }

    /** The encodings (padded to one length) as the model's input batch. */
    static BertModel.Batch batch(List<Encoding> enc) {
        int b = enc.size(), seq = enc.getFirst().length();
        int[] ids = new int[b * seq], types = new int[b * seq], mask = new int[b * seq];
        for (int j = 0; j < b; j++) {
            System.arraycopy(enc.get(j).ids(), 0, ids, j * seq, seq);
            System.arraycopy(enc.get(j).typeIds(), 0, types, j * seq, seq);
            System.arraycopy(enc.get(j).attentionMask(), 0, mask, j * seq, seq);
        }
        return new BertModel.Batch(ids, types, mask, b, seq);
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int k = 0; k < a.length; k++) s += a[k] * b[k];
        return s;
    }
}
