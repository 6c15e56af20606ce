package dev.lora4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.tokenize.ChatTemplate;
import dev.lora4j.tokenize.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Uses the hand-made tokenizers of src/test/resources/tokenize/ (ids listed in TokenizerTest): bpe has
 * 1 &lt;s&gt; (added by its post-processor), 2 &lt;/s&gt; (eos), 3 ▁, 14 ▁low, 16 ▁lower, 19 ▁new, 21 est,
 * 22 &lt;|im_start|&gt;, 23 &lt;|im_end|&gt;, and Metaspace prepends ▁ to every piece of text.
 */
class CausalLmEncoderTest {
    static final int X = CausalLmExample.IGNORE;
    static Tokenizer bpe;
    static Tokenizer bert;

    @BeforeAll
    static void load() throws Exception {
        Path res = Path.of(CausalLmEncoderTest.class.getResource("/tokenize/bpe/tokenizer.json").toURI()).getParent().getParent();
        bpe = Tokenizer.fromDirectory(res.resolve("bpe"));
        bert = Tokenizer.fromFile(res.resolve("wordpiece/tokenizer.json"));
    }

    @AfterAll
    static void close() {
        bpe.close();
        bert.close();
    }

    @Test
    void textGetsBosFromPostProcessorAndEosAppended() {
        try (CausalLmEncoder enc = new CausalLmEncoder(bpe, 0, true)) {
            CausalLmExample e = enc.encode(new Record.Text("lower newest"));
            assertArrayEquals(new int[] {1, 16, 19, 21, 2}, e.inputIds());
            assertArrayEquals(new int[] {1, 16, 19, 21, 2}, e.labels());
        }
    }

    @Test
    void promptMaskCoversExactlyThePrompt() {
        Record pc = new Record.PromptCompletion("lower lower", "newest");
        try (CausalLmEncoder masked = new CausalLmEncoder(bpe, 0, true); CausalLmEncoder full = new CausalLmEncoder(bpe, 0, false)) {
            // prompt: <s> ▁lower ▁lower ; completion (no special tokens): ▁new est ; then </s>
            CausalLmExample m = masked.encode(pc);
            assertArrayEquals(new int[] {1, 16, 16, 19, 21, 2}, m.inputIds());
            assertArrayEquals(new int[] {X, X, X, 19, 21, 2}, m.labels());
            CausalLmExample f = full.encode(pc);
            assertArrayEquals(m.inputIds(), f.inputIds());
            assertArrayEquals(new int[] {1, 16, 16, 19, 21, 2}, f.labels());
        }
    }

    @Test
    void truncationKeepsTheFirstMaxSeqLenTokens() {
        try (CausalLmEncoder enc = new CausalLmEncoder(bpe, 3, true)) {
            CausalLmExample e = enc.encode(new Record.PromptCompletion("lower", "newest"));
            assertArrayEquals(new int[] {1, 16, 19}, e.inputIds());
            assertArrayEquals(new int[] {X, X, 19}, e.labels());
            assertArrayEquals(new int[] {1, 16, 19}, enc.encode(new Record.Text("lower newest lower")).inputIds());
            enc.encode(new Record.Text("lo"));
            assertEquals(2, enc.truncatedCount(), "two of the three examples were cut; none silently");
        }
    }

    @Test
    void chatTrainsOnlyAssistantTurns() {
        // A ChatML-like template whose role headers are vocabulary words: "low" for users, "new" for the assistant.
        ChatTemplate t = new ChatTemplate("{% for m in messages %}<|im_start|>{% if m.role == 'assistant' %}new{% else %}low{% endif %} "
                + "{{ m.content }}<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_start|>new {% endif %}", "<s>", "</s>");
        Record chat = new Record.Chat(List.of(new ChatMessage("user", "lower"), new ChatMessage("assistant", "newest"),
                new ChatMessage("user", "lower"), new ChatMessage("assistant", "lower")));
        int[] ids = {22, 14, 16, 23, 22, 19, 19, 21, 23, 22, 14, 16, 23, 22, 19, 16, 23};
        try (CausalLmEncoder masked = new CausalLmEncoder(bpe, t, 0, true); CausalLmEncoder full = new CausalLmEncoder(bpe, t, 0, false)) {
            CausalLmExample m = masked.encode(chat);
            assertArrayEquals(ids, m.inputIds());
            // trained: "▁new est <|im_end|>" of turn 2 and "▁lower <|im_end|>" of turn 4; the "new" headers are masked
            assertArrayEquals(new int[] {X, X, X, X, X, X, 19, 21, 23, X, X, X, X, X, X, 16, 23}, m.labels());
            assertArrayEquals(ids, full.encode(chat).labels());
        }
    }

    @Test
    void chatWithTheTokenizersTemplate() {
        // bpe's own template: {{ bos }}{% for m %}<|im_start|>{{ content }}<|im_end|>{% endfor %}{{ eos }}, no roles
        Record chat = new Record.Chat(List.of(new ChatMessage("user", "lower"), new ChatMessage("assistant", "newest")));
        try (CausalLmEncoder enc = new CausalLmEncoder(bpe, 0, true)) {
            CausalLmExample e = enc.encode(chat);
            assertArrayEquals(new int[] {1, 22, 16, 23, 22, 19, 21, 23, 2}, e.inputIds());
            assertArrayEquals(new int[] {X, X, X, X, 22, 19, 21, 23, 2}, e.labels());
        }
    }

    @Test
    void chatWithoutTemplateAndWrongRecordsFailClearly() {
        try (CausalLmEncoder enc = new CausalLmEncoder(bert, 0, true)) {
            DatasetException e = assertThrows(DatasetException.class,
                    () -> enc.encode(new Record.Chat(List.of(new ChatMessage("user", "hi")))));
            assertTrue(e.getMessage().contains("chat template"), e.getMessage());
            assertThrows(DatasetException.class, () -> enc.encode(new Record.Classification("a", "b")));
            assertThrows(DatasetException.class, () -> enc.encode(new Record.Pair("a", "b", null)));
            // no eos in the wordpiece tokenizer: nothing is appended; [CLS] ... [SEP] come from its post-processor
            assertArrayEquals(new int[] {2, 5, 6, 3}, enc.encode(new Record.Text("the cat")).inputIds());
        }
    }
}
