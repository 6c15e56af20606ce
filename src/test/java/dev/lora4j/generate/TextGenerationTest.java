package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.model.Weights;
import dev.lora4j.model.llama.LlamaConfig;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.tokenize.Tokenizer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Text generation end to end: tokenize, generate, stream decoded pieces that add up to the decoded ids. */
class TextGenerationTest {
    static final Path BPE = Path.of("src/test/resources/tokenize/bpe");

    static LlamaForCausalLM model(int vocab) throws Exception {
        String config = """
            {"model_type": "llama", "vocab_size": %d, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "max_position_embeddings": 64,
             "hidden_act": "silu", "tie_word_embeddings": true}
            """.formatted(vocab);
        return LlamaForCausalLM.fromWeights(LlamaConfig.fromJson(new ObjectMapper().readTree(config)), Weights.random(5, 0.3f));
    }

    @Test
    void streamedPiecesAddUpToTheDecodedTokens() throws Exception {
        try (Tokenizer tok = Tokenizer.fromDirectory(BPE)) {
            TextGeneration gen = new TextGeneration(model(tok.vocabSize()), tok);
            StringBuilder streamed = new StringBuilder();
            GenerationResult r = gen.complete("hello world", SamplingOptions.greedy(12), streamed::append);
            assertTrue(r.generatedTokens() > 0);
            int[] ids = r.ids().stream().mapToInt(Integer::intValue).toArray();
            // Greedy is deterministic: the same call gives the same tokens.
            assertEquals(r.ids(), gen.complete("hello world", SamplingOptions.greedy(12), s -> { }).ids());
            int[] prompt = tok.encode("hello world").ids();
            int[] all = new int[prompt.length + ids.length];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            System.arraycopy(ids, 0, all, prompt.length, ids.length);
            String full = tok.decode(all, true), promptText = tok.decode(prompt, true);
            assertEquals(full.substring(promptText.length()), streamed.toString());
            Integer eos = tok.eosTokenId();
            if (r.ids().contains(eos)) assertEquals(eos, r.ids().get(r.ids().size() - 1), "generation stops at EOS");
        }
    }

    @Test
    void chatUsesTheTemplate() throws Exception {
        try (Tokenizer tok = Tokenizer.fromDirectory(BPE)) {
            TextGeneration gen = new TextGeneration(model(tok.vocabSize()), tok);
            GenerationResult r = gen.chat("hello", SamplingOptions.greedy(4), s -> { });
            // <s><|im_start|> hello <|im_end|></s>: the template's own special tokens, none added twice.
            int[] expected = tok.withOptions(Tokenizer.Options.builder().addSpecialTokens(false).build())
                .encode("<s><|im_start|>hello<|im_end|></s>").ids();
            assertEquals(expected.length, r.promptTokens());
        }
    }
}
