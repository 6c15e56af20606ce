package dev.lora4j.generate;

import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.nn.Module;
import dev.lora4j.tokenize.ChatTemplate;
import dev.lora4j.tokenize.Tokenizer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Text in, text out: tokenizes a prompt (or renders a chat through the model's chat template), generates, and
 * streams the decoded text piece by piece as tokens arrive.
 */
public final class TextGeneration {
    private final CausalLanguageModel model;
    private final Tokenizer tokenizer;

    public TextGeneration(CausalLanguageModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
        ((Module) model).train(false);
    }

    /** Generates a continuation of {@code prompt}; stops at the tokenizer's EOS or after maxNewTokens. */
    public GenerationResult complete(String prompt, SamplingOptions options, Consumer<String> text) {
        return run(tokenizer.encode(prompt).ids(), options, text);
    }

    /** Answers one user message, rendered with the tokenizer's chat template and the generation prompt. */
    public GenerationResult chat(String userMessage, SamplingOptions options, Consumer<String> text) {
        ChatTemplate template = tokenizer.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
            "this tokenizer has no chat_template (tokenizer_config.json); use a prompt instead"));
        String rendered = template.render(List.of(new ChatTemplate.Message("user", userMessage)), true);
        // The template already wrote the special tokens (BOS and the turn markers): do not add them again.
        Tokenizer raw = tokenizer.withOptions(Tokenizer.Options.builder().addSpecialTokens(false).build());
        return run(raw.encode(rendered).ids(), options, text);
    }

    private GenerationResult run(int[] promptIds, SamplingOptions options, Consumer<String> text) {
        Set<Integer> stops = new HashSet<>(options.stopTokenIds());
        if (tokenizer.eosTokenId() != null) stops.add(tokenizer.eosTokenId());
        StreamingDecoder decoder = new StreamingDecoder(ids -> tokenizer.decode(ids, true), promptIds);
        GenerationResult r = Generator.generateWithStats(model, promptIds, options.withStopTokenIds(stops), id -> {
            String piece = decoder.push(id);
            if (!piece.isEmpty()) text.accept(piece);
        });
        String rest = decoder.flush();
        if (!rest.isEmpty()) text.accept(rest);
        return r;
    }
}
