package dev.lora4j.tokenize;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tokenizers written by hand under src/test/resources/tokenize/, so every expected id below can be derived from
 * the vocabulary and merges in those files (the derivation is spelled out next to each check).
 *
 * <p>wordpiece/tokenizer.json (BERT-style: lowercasing BertNormalizer, BertPreTokenizer, WordPiece "##",
 * [CLS] $A [SEP] / [CLS] $A [SEP] $B [SEP]):
 * 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK], 5 the, 6 cat, 7 sat, 8 on, 9 mat, 10 ##s, 11 play, 12 ##ing,
 * 13 ".", 14 dog, 15 a, 16 ",", 17 hello, 18 world, 19 "!".
 *
 * <p>bpe/tokenizer.json (Llama-style: Metaspace "▁" always prepended, BPE, "&lt;s&gt; $A"):
 * 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, 3 ▁, 4 l, 5 o, 6 w, 7 e, 8 r, 9 n, 10 s, 11 t, 12 ▁l, 13 ▁lo, 14 ▁low,
 * 15 er, 16 ▁lower, 17 ▁n, 18 ▁ne, 19 ▁new, 20 es, 21 est, 22 &lt;|im_start|&gt;, 23 &lt;|im_end|&gt;;
 * merges in rank order: "▁ l", "▁l o", "▁lo w", "e r", "▁low er", "▁ n", "▁n e", "▁ne w", "e s", "es t".
 *
 * <p>The expected ids were derived by hand and then checked once against Python's tokenizers 0.22.2.
 */
class TokenizerTest {
    static Path resources;
    static Tokenizer bert;

    @BeforeAll
    static void load() throws Exception {
        resources = Path.of(TokenizerTest.class.getResource("/tokenize/wordpiece/tokenizer.json").toURI()).getParent().getParent();
        bert = Tokenizer.fromFile(resources.resolve("wordpiece/tokenizer.json"));
    }

    @AfterAll
    static void close() {
        bert.close();
    }

    @Test
    void wordPieceEncodeAddsClsSepAndSplitsSubwords() {
        // "The cats sat." -> lowercased, split to the | cats | sat | . ; "cats" = cat + ##s
        Encoding e = bert.encode("The cats sat.");
        assertArrayEquals(new String[] {"[CLS]", "the", "cat", "##s", "sat", ".", "[SEP]"}, e.tokens());
        assertArrayEquals(new int[] {2, 5, 6, 10, 7, 13, 3}, e.ids());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1}, e.attentionMask());
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 0, 0}, e.typeIds());
        // "playing" = play + ##ing, "dogs" = dog + ##s, "zebra" has no pieces -> [UNK]
        assertArrayEquals(new int[] {2, 11, 12, 14, 10, 1, 3}, bert.encode("Playing dogs zebra").ids());
    }

    @Test
    void withoutSpecialTokens() {
        try (Tokenizer t = bert.withOptions(Tokenizer.Options.builder().addSpecialTokens(false).build())) {
            assertArrayEquals(new int[] {17, 16, 18, 19}, t.encode("Hello, world!").ids());
        }
    }

    @Test
    void pairEncodingGivesTypeIds() {
        // [CLS] the cat [SEP] a dog [SEP]; the second sentence and its [SEP] have type 1
        Encoding e = bert.encodePair("The cat", "a dog");
        assertArrayEquals(new int[] {2, 5, 6, 3, 15, 14, 3}, e.ids());
        assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1}, e.typeIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1}, e.attentionMask());
    }

    @Test
    void truncationKeepsSpecialTokens() {
        try (Tokenizer t = bert.withOptions(Tokenizer.Options.builder().maxLength(5).build())) {
            // 7 tokens -> 5: [CLS] the cat ##s [SEP]
            assertArrayEquals(new int[] {2, 5, 6, 10, 3}, t.encode("The cats sat.").ids());
            // pair, longest first: "the cat ##s sat ." (5) and "a dog" (2) share 5 - 3 specials = 2 -> 1 + 1
            Encoding p = t.encodePair("The cats sat.", "a dog");
            assertArrayEquals(new int[] {2, 5, 3, 15, 3}, p.ids());
            assertArrayEquals(new int[] {0, 0, 0, 1, 1}, p.typeIds());
        }
        // no maxLength: nothing is cut, not even at DJL's default of 512
        String longText = "the cat ".repeat(400);
        assertEquals(802, bert.encode(longText).length());
    }

    @Test
    void paddingToMaxLengthRightAndLeft() {
        Tokenizer.Options max10 = Tokenizer.Options.builder().maxLength(10).padding(Tokenizer.Padding.MAX_LENGTH).build();
        try (Tokenizer t = bert.withOptions(max10)) {
            Encoding e = t.encode("the cat");
            assertArrayEquals(new int[] {2, 5, 6, 3, 0, 0, 0, 0, 0, 0}, e.ids());
            assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, e.attentionMask());
            assertEquals("[PAD]", e.tokens()[9]);
            assertEquals(4, e.realLength());
        }
        try (Tokenizer t = bert.withOptions(max10.toBuilder().maxLength(6).paddingSide(Tokenizer.Side.LEFT).build())) {
            Encoding e = t.encode("the cat");
            assertArrayEquals(new int[] {0, 0, 2, 5, 6, 3}, e.ids());
            assertArrayEquals(new int[] {0, 0, 1, 1, 1, 1}, e.attentionMask());
        }
    }

    @Test
    void batchPadsToLongest() {
        List<Encoding> batch = bert.encodeBatch(List.of("the cat", "The cats sat.", "a"));
        assertEquals(3, batch.size());
        assertArrayEquals(new int[] {2, 5, 6, 3, 0, 0, 0}, batch.get(0).ids());
        assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0, 0}, batch.get(0).attentionMask());
        assertArrayEquals(new int[] {2, 5, 6, 10, 7, 13, 3}, batch.get(1).ids());
        assertArrayEquals(new int[] {2, 15, 3, 0, 0, 0, 0}, batch.get(2).ids());
        assertEquals(bert.encode("The cats sat."), batch.get(1));

        List<Encoding> pairs = bert.encodePairBatch(List.of("the cat", "a"), List.of("a dog", "hello"));
        assertArrayEquals(new int[] {2, 5, 6, 3, 15, 14, 3}, pairs.get(0).ids());
        assertArrayEquals(new int[] {2, 15, 3, 17, 3, 0, 0}, pairs.get(1).ids());
        assertArrayEquals(new int[] {0, 0, 0, 1, 1, 0, 0}, pairs.get(1).typeIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0, 0}, pairs.get(1).attentionMask());
        assertEquals(List.of(), bert.encodeBatch(List.of()));
    }

    @Test
    void decodeJoinsSubwords() {
        int[] ids = {2, 5, 6, 10, 7, 13, 3};
        // WordPiece decoder: "##" glues pieces, cleanup removes the space before "."
        assertEquals("the cats sat.", bert.decode(ids, true));
        assertEquals("[CLS] the cats sat. [SEP]", bert.decode(ids, false));
        assertEquals("the cat", bert.decode(new int[] {2, 5, 6, 3, 0, 0}, true));
    }

    @Test
    void vocabularyAndSpecialTokensFromTokenizerJsonAlone() {
        assertEquals(20, bert.vocabSize());
        assertEquals(6, bert.tokenId("cat"));
        assertEquals(10, bert.tokenId("##s"));
        assertNull(bert.tokenId("zebra"));
        assertEquals("##ing", bert.idToToken(12));
        assertNull(bert.idToToken(20));
        assertEquals(new SpecialTokens(null, null, "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), bert.specialTokens());
        assertEquals(0, bert.padTokenId());
        assertEquals(1, bert.unkTokenId());
        assertEquals(2, bert.clsTokenId());
        assertEquals(3, bert.sepTokenId());
        assertNull(bert.bosTokenId());
        assertNull(bert.eosTokenId());
        assertTrue(bert.chatTemplate().isEmpty());
    }

    @Test
    void fromBytesAsFromAJarResource() throws IOException {
        byte[] json;
        try (InputStream in = TokenizerTest.class.getResourceAsStream("/tokenize/wordpiece/tokenizer.json")) {
            json = in.readAllBytes();
        }
        try (Tokenizer t = Tokenizer.fromBytes(json, "classpath:/tokenize/wordpiece/tokenizer.json")) {
            assertArrayEquals(new int[] {2, 17, 16, 18, 19, 3}, t.encode("Hello, world!").ids());
            assertEquals("classpath:/tokenize/wordpiece/tokenizer.json", t.name());
        }
    }

    @Test
    void bpeWithMetaspaceAndConfigFromDirectory() {
        try (Tokenizer t = Tokenizer.fromDirectory(resources.resolve("bpe"))) {
            // "▁lower": ▁ l o w e r -(▁ l)-> ▁l o w e r -(▁l o)-> ▁lo w e r -(▁lo w)-> ▁low e r -(e r)-> ▁low er -> ▁lower
            // "▁newest": ▁ n e w e s t -(▁ n)-> ▁n e w e s t -(▁n e)-> ▁ne w e s t -(▁ne w)-> ▁new e s t
            //            -(e s)-> ▁new es t -(es t)-> ▁new est ; "<s>" from the post-processor
            Encoding e = t.encode("lower newest");
            assertArrayEquals(new String[] {"<s>", "\u2581lower", "\u2581new", "est"}, e.tokens());
            assertArrayEquals(new int[] {1, 16, 19, 21}, e.ids());
            // "▁z": "▁" is in the vocab, "z" is not (and no merge applies) -> ▁ <unk>
            assertArrayEquals(new int[] {1, 16, 3, 0}, t.encode("lower z").ids());
            // Metaspace decoder turns ▁ back into spaces and drops the leading one
            assertEquals("lower newest", t.decode(new int[] {1, 16, 19, 21}, true));
            assertEquals(24, t.vocabSize());
            assertEquals(new SpecialTokens("<s>", "</s>", null, "<unk>", null, null, null), t.specialTokens());
            assertEquals(1, t.bosTokenId());
            assertEquals(2, t.eosTokenId());
            assertNull(t.padTokenId());
            assertEquals(OptionalInt.empty(), t.modelMaxLength()); // 1e30 means "no limit"

            // No pad token: padding fails with advice, and works once a pad token is chosen.
            TokenizerException noPad = assertThrows(TokenizerException.class, () -> t.encodeBatch(List.of("lower", "lower newest")));
            assertTrue(noPad.getMessage().contains("defines no pad token"), noPad.getMessage());
            try (Tokenizer padded = t.withOptions(Tokenizer.Options.builder().padToken("</s>").build())) {
                List<Encoding> b = padded.encodeBatch(List.of("lower", "lower newest"));
                assertArrayEquals(new int[] {1, 16, 2, 2}, b.get(0).ids());
                assertArrayEquals(new int[] {1, 1, 0, 0}, b.get(0).attentionMask());
                assertEquals(2, padded.padTokenId());
            }

            // chat_template is a list: "default" is used, not the first entry; bos/eos come from the config.
            ChatTemplate template = t.chatTemplate().orElseThrow();
            String text = template.render(List.of(ChatTemplate.Message.user("lower newest")), false);
            assertEquals("<s><|im_start|>lower newest<|im_end|></s>", text);
            // As apply_chat_template(tokenize=True) does: no second <s>; the added tokens stay whole.
            try (Tokenizer raw = t.withOptions(Tokenizer.Options.builder().addSpecialTokens(false).build())) {
                assertArrayEquals(new int[] {1, 22, 16, 19, 21, 23, 2}, raw.encode(text).ids());
            }
        }
    }

    @Test
    void configVariants(@TempDir Path dir) throws IOException {
        Files.copy(resources.resolve("bpe/tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": {"content": "<s>"}, "eos_token": "</s>", "pad_token": "<unk>", "model_max_length": 2048,
                 "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}""");
        try (Tokenizer t = Tokenizer.fromDirectory(dir)) {
            assertEquals(OptionalInt.of(2048), t.modelMaxLength());
            assertEquals(0, t.padTokenId());
            assertEquals("<s>lower", t.chatTemplate().orElseThrow().render(List.of(ChatTemplate.Message.user("lower")), false));
        }
        // chat_template.jinja beside the config wins over the config's template
        Files.writeString(dir.resolve("chat_template.jinja"), "{% for m in messages %}[{{ m.role }}]{% endfor %}\n");
        try (Tokenizer t = Tokenizer.fromDirectory(dir)) {
            assertEquals("[user]", t.chatTemplate().orElseThrow().render(List.of(ChatTemplate.Message.user("x")), false));
        }
    }

    @Test
    void addedTokenIdsFollowTheNativeLibrary(@TempDir Path dir) throws IOException {
        // tokenizer.json states ids 30 and 31 for the chat tokens, leaving a gap after the model's 0..21; the Rust
        // library ignores such ids and gives added tokens the next free ones (22, 23). tokenId must agree with it.
        String json = Files.readString(resources.resolve("bpe/tokenizer.json"))
                .replace("{\"id\": 22, \"content\": \"<|im_start|>\"", "{\"id\": 30, \"content\": \"<|im_start|>\"")
                .replace("{\"id\": 23, \"content\": \"<|im_end|>\"", "{\"id\": 31, \"content\": \"<|im_end|>\"");
        assertTrue(json.contains("\"id\": 30"));
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, json);
        try (Tokenizer t = Tokenizer.fromFile(file)) {
            assertArrayEquals(new int[] {1, 22, 16, 23}, t.encode("<|im_start|>lower<|im_end|>").ids());
            assertEquals(22, t.tokenId("<|im_start|>"));
            assertEquals(23, t.tokenId("<|im_end|>"));
            assertEquals("<|im_end|>", t.idToToken(23));
            assertEquals(24, t.vocabSize());
        }
    }

    @Test
    void missingFilesNameThePath(@TempDir Path dir) {
        Path missing = dir.resolve("nope/tokenizer.json");
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.fromFile(missing));
        assertTrue(e.getMessage().contains("not found") && e.getMessage().contains(missing.toString()), e.getMessage());

        TokenizerException d = assertThrows(TokenizerException.class, () -> Tokenizer.fromDirectory(dir));
        assertTrue(d.getMessage().contains("no tokenizer.json in " + dir), d.getMessage());
    }

    @Test
    void malformedJsonNamesFileAndPosition(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("tokenizer.json");
        Files.writeString(bad, "{\n  \"version\": \"1.0\",\n  \"model\": {\"type\": \"WordPiece\",\n");
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.fromFile(bad));
        assertTrue(e.getMessage().startsWith("malformed JSON in " + bad), e.getMessage());
        assertTrue(e.getMessage().contains("line 4"), e.getMessage());

        Files.writeString(bad, "{\"version\": \"1.0\", \"vocab\": {}}");
        TokenizerException noModel = assertThrows(TokenizerException.class, () -> Tokenizer.fromFile(bad));
        assertTrue(noModel.getMessage().contains("not a tokenizer.json") && noModel.getMessage().contains(bad.toString()), noModel.getMessage());

        // Well-formed JSON the Rust library refuses: the message says so and names the file.
        Files.writeString(bad, "{\"version\": \"1.0\", \"model\": {\"type\": \"NoSuchModel\", \"vocab\": {}}}");
        TokenizerException rejected = assertThrows(TokenizerException.class, () -> Tokenizer.fromFile(bad));
        assertTrue(rejected.getMessage().contains("rejected " + bad), rejected.getMessage());

        Path badConfig = Files.createDirectories(dir.resolve("model"));
        Files.copy(resources.resolve("wordpiece/tokenizer.json"), badConfig.resolve("tokenizer.json"));
        Files.writeString(badConfig.resolve("tokenizer_config.json"), "{\"bos_token\": ");
        TokenizerException c = assertThrows(TokenizerException.class, () -> Tokenizer.fromDirectory(badConfig));
        assertTrue(c.getMessage().contains("malformed JSON in " + badConfig.resolve("tokenizer_config.json")), c.getMessage());
    }

    @Test
    void staysOffline() {
        // Set by Tokenizer's static initialiser unless the environment already decided.
        if (System.getenv("DJL_OFFLINE") == null) assertEquals("true", System.getProperty("ai.djl.offline"));
        if (System.getenv("RUST_FLAVOR") == null) assertEquals("cpu", System.getProperty("RUST_FLAVOR"));
    }
}
