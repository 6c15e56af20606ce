package dev.lora4j.train;

import dev.lora4j.tokenize.Encoding;
import dev.lora4j.tokenize.Tokenizer;
import java.util.List;
import java.util.Locale;

/** Counts the texts that --max-seq-len cuts short, so that a run says so instead of truncating silently. */
final class Truncation {
    private static final int CHUNK = 256;

    private Truncation() {}

    /** How many of {@code texts} the tokenizer (set to truncate at its max length) cut short. */
    static int count(Tokenizer tokenizer, List<String> texts) {
        int n = 0;
        for (int i = 0; i < texts.size(); i += CHUNK) {
            for (Encoding e : tokenizer.encodeBatch(texts.subList(i, Math.min(texts.size(), i + CHUNK)))) if (e.truncated()) n++;
        }
        return n;
    }

    /** One line on standard output when anything was truncated. */
    static void report(int truncated, int total, String what, int maxSeqLen) {
        if (truncated == 0) return;
        System.out.printf(Locale.ROOT, "note: %d of %d %s are longer than --max-seq-len %d tokens and were truncated%n",
            truncated, total, what, maxSeqLen);
    }
}
