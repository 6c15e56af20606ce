package dev.lora4j.train;

import dev.lora4j.autograd.Tape;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.model.bert.BertModel;
import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/** Sentence embeddings for many texts (sentence-transformers' encode): batched, padded, truncated. */
public final class SentenceEmbeddings {
    private final BertModel model;
    private final Tokenizer tokenizer;

    public SentenceEmbeddings(BertCheckpoint checkpoint, int maxSeqLen) {
        this.model = new BertModel(checkpoint.config(), checkpoint.weights(), checkpoint.prefix(), false);
        this.model.train(false);
        this.tokenizer = checkpoint.tokenizer().withOptions(Tokenizer.Options.builder()
            .padding(Tokenizer.Padding.LONGEST).truncation(true).maxLength(maxSeqLen).build());
    }

    /** One unit-length vector per text, in order. */
    public List<float[]> embed(List<String> texts, int batchSize) {
        List<float[]> out = new ArrayList<>(texts.size());
        int dim = model.config().hiddenSize();
        try (var s = Tape.noGrad()) {
            for (int i = 0; i < texts.size(); i += batchSize) {
                List<Encoding> enc = tokenizer.encodeBatch(texts.subList(i, Math.min(texts.size(), i + batchSize)));
                int b = enc.size(), seq = enc.get(0).length();
                int[] ids = new int[b * seq], types = new int[b * seq], mask = new int[b * seq];
                for (int j = 0; j < b; j++) {
                    System.arraycopy(enc.get(j).ids(), 0, ids, j * seq, seq);
                    System.arraycopy(enc.get(j).typeIds(), 0, types, j * seq, seq);
                    System.arraycopy(enc.get(j).attentionMask(), 0, mask, j * seq, seq);
                }
                float[] e = model.embed(new BertModel.Batch(ids, types, mask, b, seq)).data();
                for (int j = 0; j < b; j++) out.add(java.util.Arrays.copyOfRange(e, j * dim, (j + 1) * dim));
            }
        }
        return out;
    }
}
