package dev.lora4j.generate;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.Function;

/**
 * Turns a stream of token ids into text pieces for printing as they come, given the tokenizer's
 * {@code decode(int[]) -> String} (e.g. {@code ids -> tokenizer.decode(ids, true)}).
 *
 * <p>Byte-level tokenizers split one character over several tokens, and decoding a prefix of them gives the
 * replacement character U+FFFD; a token may also change how the text before it decodes (SentencePiece's
 * leading space). So each id is not decoded alone: the decoder decodes a short window of recent ids with and
 * without the new ones and emits the difference, holding output back while the decoded text ends with U+FFFD
 * (an incomplete character). The window restarts after each emitted piece, so the cost per token stays
 * constant instead of growing with the text (the scheme Hugging Face text-generation-inference uses; decoding
 * the whole growing sequence would give the same pieces at quadratic cost).
 *
 * <p>Optional context ids (e.g. the end of the prompt) are decoded as left context but never emitted, so the
 * first generated word keeps the leading space it would have after the prompt.
 *
 * <p>Not thread-safe.
 */
public final class StreamingDecoder {
    private static final char REPLACEMENT = '\uFFFD';

    private final Function<int[], String> decode;
    private final StringBuilder emitted = new StringBuilder();
    private final int contextLength;
    private int[] ids;
    private int count;
    /** Start of the window decoded as left context. */
    private int prefixOffset;
    /** End of what has already been emitted. */
    private int readOffset;

    public StreamingDecoder(Function<int[], String> decode) {
        this(decode, new int[0]);
    }

    /** @param contextIds decoded as left context of the first tokens but never emitted (may be empty) */
    public StreamingDecoder(Function<int[], String> decode, int[] contextIds) {
        this.decode = Objects.requireNonNull(decode, "decode");
        Objects.requireNonNull(contextIds, "contextIds");
        this.ids = Arrays.copyOf(contextIds, Math.max(16, contextIds.length * 2));
        this.count = contextIds.length;
        this.contextLength = contextIds.length;
        this.prefixOffset = 0;
        this.readOffset = contextIds.length;
    }

    /** Adds one token; returns the text it completes (may be empty while a character is incomplete). */
    public String push(int id) {
        if (count == ids.length) ids = Arrays.copyOf(ids, ids.length * 2);
        ids[count++] = id;
        String prefixText = decode(prefixOffset, readOffset);
        String newText = decode(prefixOffset, count);
        if (newText.length() > prefixText.length() && newText.charAt(newText.length() - 1) != REPLACEMENT) {
            String piece = newText.substring(prefixText.length());
            prefixOffset = readOffset;
            readOffset = count;
            emitted.append(piece);
            return piece;
        }
        return "";
    }

    /**
     * Emits whatever is held back (an incomplete character shows as U+FFFD), e.g. when generation ends;
     * returns it (may be empty). Later pushes continue after it.
     */
    public String flush() {
        if (readOffset == count) return "";
        String prefixText = decode(prefixOffset, readOffset);
        String newText = decode(prefixOffset, count);
        String piece = newText.length() > prefixText.length() ? newText.substring(prefixText.length()) : "";
        prefixOffset = readOffset;
        readOffset = count;
        emitted.append(piece);
        return piece;
    }

    /** Everything emitted so far (by push and flush), context excluded. */
    public String text() {
        return emitted.toString();
    }

    /** Ids pushed so far, context excluded. */
    public int[] ids() {
        return Arrays.copyOfRange(ids, contextLength, count);
    }

    private String decode(int from, int to) {
        if (from == to) return "";
        String s = decode.apply(Arrays.copyOfRange(ids, from, to));
        return s == null ? "" : s;
    }
}
