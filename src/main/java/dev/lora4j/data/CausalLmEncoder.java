package dev.lora4j.data;

import dev.lora4j.tokenize.ChatTemplate;
import dev.lora4j.tokenize.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns causal-LM records into {@link CausalLmExample}s with a tokenizer.
 *
 * <ul>
 *   <li>{@link Record.Text}: the text encoded with the tokenizer's special tokens (so BOS comes from its
 *       post-processor, as in transformers), then EOS appended when the tokenizer has one and it is not already
 *       last. Every token is trained.
 *   <li>{@link Record.PromptCompletion}: the prompt encoded with special tokens (a trailing EOS the
 *       post-processor may add is dropped: the prompt does not end the text), then the completion encoded
 *       without special tokens, then EOS. The two parts are encoded separately so the prompt/completion boundary
 *       is exact; write the separating space or newline into the prompt or completion as you want it.
 *       With maskPrompt the prompt's labels are -100.
 *   <li>{@link Record.Chat}: the conversation rendered by the chat template (the tokenizer's, or one given)
 *       and encoded without special tokens, as {@code apply_chat_template(tokenize=True)} does (templates write
 *       their own BOS). With maskPrompt only assistant turns are trained: for assistant message i, the span
 *       starts where {@code render(messages[0..i), add_generation_prompt=True)} stops agreeing with the full
 *       rendering and ends where {@code render(messages[0..i])} stops agreeing with it. So the trained part is
 *       the assistant's content plus whatever the template writes after it up to the next turn (end-of-turn
 *       token, and EOS after the last turn), while role headers and the generation prompt stay masked. Those
 *       character offsets become token offsets by encoding the rendered prefix; a token that straddles a
 *       boundary (rare: templates put special tokens or newlines there) is counted as trained.
 * </ul>
 * Then all are cut to the first {@code maxSeqLen} tokens (0 = no limit); an example whose trained part lies
 * past the cut keeps no trained token (see {@link CausalLmExample#trainedTokens()}).
 *
 * <p>Holds two native tokenizer instances derived from the given one; close it when done.
 */
public final class CausalLmEncoder implements AutoCloseable {
    private final Tokenizer withSpecial;
    private final Tokenizer plain;
    private final ChatTemplate template;
    private final Integer eos;
    private final int maxSeqLen;
    private final boolean maskPrompt;
    private final String tokenizerName;

    /** With the tokenizer's own chat template (if any). */
    public CausalLmEncoder(Tokenizer tokenizer, int maxSeqLen, boolean maskPrompt) {
        this(tokenizer, tokenizer.chatTemplate().orElse(null), maxSeqLen, maskPrompt);
    }

    /** @param chatTemplate used for chat records instead of the tokenizer's; null if chat records are not expected */
    public CausalLmEncoder(Tokenizer tokenizer, ChatTemplate chatTemplate, int maxSeqLen, boolean maskPrompt) {
        if (maxSeqLen < 0) throw new IllegalArgumentException("maxSeqLen must be >= 0 (0 = no limit), got " + maxSeqLen);
        // Our own options: the caller's tokenizer may pad or truncate, which would corrupt the concatenation.
        Tokenizer.Options base = tokenizer.options().toBuilder().maxLength(0).truncation(false).padding(Tokenizer.Padding.NONE).build();
        this.withSpecial = tokenizer.withOptions(base.toBuilder().addSpecialTokens(true).build());
        this.plain = tokenizer.withOptions(base.toBuilder().addSpecialTokens(false).build());
        this.template = chatTemplate;
        this.eos = tokenizer.eosTokenId();
        this.maxSeqLen = maxSeqLen;
        this.maskPrompt = maskPrompt;
        this.tokenizerName = tokenizer.name();
    }

    /** Encodes every record (all must be text, prompt/completion or chat). */
    public List<CausalLmExample> encodeAll(List<? extends Record> records) {
        List<CausalLmExample> out = new ArrayList<>(records.size());
        for (Record r : records) out.add(encode(r));
        return out;
    }

    /** Encodes one record. */
    public CausalLmExample encode(Record record) {
        return truncate(switch (record) {
            case Record.Text t -> text(t.text());
            case Record.PromptCompletion pc -> promptCompletion(pc.prompt(), pc.completion());
            case Record.Chat c -> chat(c.messages());
            case Record.Classification c -> throw new DatasetException("a text/label record is for the classification task, not causal-lm");
            case Record.Pair p -> throw new DatasetException("an anchor/positive record is for the embedding task, not causal-lm");
        });
    }

    private CausalLmExample text(String text) {
        int[] ids = withEos(withSpecial.encode(text).ids());
        return new CausalLmExample(ids, ids.clone());
    }

    private CausalLmExample promptCompletion(String prompt, String completion) {
        int[] p = withSpecial.encode(prompt).ids();
        if (eos != null && p.length > 0 && p[p.length - 1] == eos) p = Arrays.copyOf(p, p.length - 1);
        int[] c = withEos(plain.encode(completion).ids());
        int[] ids = new int[p.length + c.length];
        System.arraycopy(p, 0, ids, 0, p.length);
        System.arraycopy(c, 0, ids, p.length, c.length);
        int[] labels = ids.clone();
        if (maskPrompt) Arrays.fill(labels, 0, p.length, CausalLmExample.IGNORE);
        return new CausalLmExample(ids, labels);
    }

    private CausalLmExample chat(List<ChatMessage> messages) {
        if (template == null) {
            throw new DatasetException("chat (\"messages\") records need a chat template, but " + tokenizerName + " has none "
                    + "(no chat_template in tokenizer_config.json or chat_template.jinja); add one, or write the data as "
                    + "prompt/completion or text records");
        }
        List<ChatTemplate.Message> msgs = messages.stream().map(m -> new ChatTemplate.Message(m.role(), m.content())).toList();
        String full = template.render(msgs, false);
        int[] ids = plain.encode(full).ids();
        if (!maskPrompt) return new CausalLmExample(ids, ids.clone());
        int[] labels = new int[ids.length];
        Arrays.fill(labels, CausalLmExample.IGNORE);
        for (int i = 0; i < msgs.size(); i++) {
            if (!msgs.get(i).role().equals("assistant")) continue;
            int startChar = commonPrefix(template.render(msgs.subList(0, i), true), full);
            int endChar = commonPrefix(template.render(msgs.subList(0, i + 1), false), full);
            int start = tokenBoundary(full.substring(0, startChar), ids, false);
            int end = tokenBoundary(full.substring(0, endChar), ids, true);
            for (int t = start; t < end; t++) labels[t] = ids[t];
        }
        return new CausalLmExample(ids, labels);
    }

    /**
     * Number of tokens of {@code fullIds} that encode {@code prefix}. If encoding the prefix alone does not give a
     * prefix of fullIds, the boundary falls inside a token; {@code roundUp} then includes that token.
     */
    private int tokenBoundary(String prefix, int[] fullIds, boolean roundUp) {
        if (prefix.isEmpty()) return 0;
        int[] p = plain.encode(prefix).ids();
        int n = Math.min(p.length, fullIds.length), lcp = 0;
        while (lcp < n && p[lcp] == fullIds[lcp]) lcp++;
        if (lcp == p.length) return lcp;
        return roundUp ? Math.min(lcp + 1, fullIds.length) : lcp;
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length()), i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) i++;
        return i;
    }

    private int[] withEos(int[] ids) {
        if (eos == null || (ids.length > 0 && ids[ids.length - 1] == eos)) return ids;
        int[] r = Arrays.copyOf(ids, ids.length + 1);
        r[ids.length] = eos;
        return r;
    }

    private int truncated;

    /** How many examples encoded so far were longer than the max length and lost their tail. */
    public int truncatedCount() {
        return truncated;
    }

    private CausalLmExample truncate(CausalLmExample e) {
        if (maxSeqLen == 0 || e.length() <= maxSeqLen) return e;
        truncated++;
        return new CausalLmExample(Arrays.copyOf(e.inputIds(), maxSeqLen), Arrays.copyOf(e.labels(), maxSeqLen));
    }

    @Override
    public void close() {
        withSpecial.close();
        plain.close();
    }
}
