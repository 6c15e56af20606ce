package dev.lora4j.tokenize;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import jinjava.javax.el.CompositeELResolver;

/**
 * A Hugging Face chat template (the Jinja {@code chat_template} of tokenizer_config.json) rendered with Jinjava,
 * configured to behave like transformers' jinja2 environment.
 *
 * <p>Templates see {@code messages} (a list of maps with {@code role} and {@code content}),
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, any extra variables passed to
 * {@link #render(List, boolean, Map)}, and the function {@code raise_exception(msg)}, which fails the render
 * with a {@link ChatTemplateException} carrying {@code msg}.
 *
 * <p>Matches jinja2 (as transformers configures it): trim_blocks and lstrip_blocks on, one trailing newline of
 * the template dropped, whitespace control ({@code {%- -%}}, {@code {{- -}}}), {@code loop.first/last/index0},
 * {@code message['role']} and {@code message.role}, {@code +} on strings, {@code |trim}, {@code namespace()},
 * slices ({@code messages[1:]}, {@code messages[::-1]}), Python string methods ({@code strip, lstrip, rstrip,
 * startswith, endswith, split, upper, lower, title, capitalize, replace, find, count}) and transformers'
 * {@code tojson}. Known differences: {@code {{ true }}} prints "true" and {@code {{ none }}} prints "" (Python:
 * "True", "None"); {@code x is not none} is false for an undefined {@code x} (jinja2 says true); string
 * repetition {@code 'a' * 3} fails; {@code strftime_now} is not defined (Llama 3.1 templates then use their
 * built-in default date). Real templates print strings, so none of these has shown up in one.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class ChatTemplate {
    /** One chat message; {@code role} is usually "system", "user" or "assistant". */
    public record Message(String role, String content) {
        public Message {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
        }

        public static Message system(String content) {
            return new Message("system", content);
        }

        public static Message user(String content) {
            return new Message("user", content);
        }

        public static Message assistant(String content) {
            return new Message("assistant", content);
        }

        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("role", role);
            m.put("content", content);
            return m;
        }
    }

    /** The ChatML template used by Qwen2 and SmolLM2-Instruct; see {@link #chatMlFallback()}. */
    public static final String CHATML =
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
                    + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    // One engine for all templates: building Jinjava loads its whole tag/filter library, and rendering is
    // thread-safe (each render gets its own interpreter).
    private static final Jinjava JINJAVA = newEngine();

    private final String source;
    private final String prepared;
    private final String bosToken;
    private final String eosToken;

    /**
     * @param template the Jinja source, as found in tokenizer_config.json
     * @param bosToken the value of {@code bos_token} in the template ("" if the model has none)
     * @param eosToken the value of {@code eos_token} in the template ("" if the model has none)
     */
    public ChatTemplate(String template, String bosToken, String eosToken) {
        this.source = Objects.requireNonNull(template, "template");
        this.prepared = JinjaCompat.preprocess(template);
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
    }

    /**
     * The ChatML template ({@code <|im_start|>role\ncontent<|im_end|>\n} per message, then
     * {@code <|im_start|>assistant\n} when a generation prompt is asked for), for a model whose tokenizer_config
     * has no chat_template. Never applied silently: the caller chooses it. The tokens only help if the
     * tokenizer knows {@code <|im_start|>} and {@code <|im_end|>} as special tokens; otherwise they are split
     * into ordinary pieces, which still trains but costs sequence length.
     */
    public static ChatTemplate chatMlFallback() {
        return new ChatTemplate(CHATML, "", "<|im_end|>");
    }

    /** The template source as given. */
    public String source() {
        return source;
    }

    public String bosToken() {
        return bosToken;
    }

    public String eosToken() {
        return eosToken;
    }

    /** Renders a conversation; with {@code addGenerationPrompt} the text ends where the assistant's reply starts. */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (Message m : messages) maps.add(m.toMap());
        return render(maps, addGenerationPrompt, Map.of());
    }

    /**
     * Renders messages given as maps (so they may carry more than role and content, e.g. {@code tool_calls}),
     * with extra template variables such as {@code tools}, {@code documents} or other special tokens.
     *
     * @throws ChatTemplateException when the template calls {@code raise_exception} or does not parse
     */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, ?> extraVariables) {
        Map<String, Object> bindings = new HashMap<>();
        bindings.put("bos_token", bosToken);
        bindings.put("eos_token", eosToken);
        bindings.putAll(extraVariables);
        bindings.put("messages", messages);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result = JINJAVA.renderForResult(prepared, bindings);
        List<String> problems = new ArrayList<>();
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.FATAL) continue;
            for (Throwable t = e.getException(); t != null; t = t.getCause()) {
                if (t instanceof JinjaCompat.RaisedException raised) {
                    throw new ChatTemplateException("chat template raised an exception: " + raised.getMessage(), raised);
                }
            }
            problems.add("line " + e.getLineno() + ": " + e.getMessage());
        }
        if (!problems.isEmpty()) {
            throw new ChatTemplateException("chat template failed to render: " + String.join("; ", problems));
        }
        return result.getOutput();
    }

    private static Jinjava newEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new JinjaCompat.PyStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        LegacyOverrides python = LegacyOverrides.newBuilder()
                .withEvaluateMapKeys(true)
                .withIterateOverMapKeys(true)
                .withUsePyishObjectMapper(true)
                .withUseNaturalOperatorPrecedence(true)
                .withParseWhitespaceControlStrictly(true)
                .withUseTrimmingForNotesAndExpressions(true) // without it {{- x -}} would not trim
                .withKeepNullableLoopValues(true)
                // whitespaceRequiredWithinTokens stays false: jinja2 accepts {{x}}
                .build();
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(false) // done by JinjaCompat.preprocess, the jinja2 way
                .withElResolver(resolver)
                .withLegacyOverrides(python)
                .build();
        Jinjava jinjava = new Jinjava(config);
        try {
            Method raise = JinjaCompat.class.getDeclaredMethod("raiseException", Object.class);
            raise.setAccessible(true); // JinjaCompat is package-private; JUEL invokes the method reflectively
            jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", raise));
        } catch (NoSuchMethodException e) {
            throw new AssertionError(e);
        }
        jinjava.getGlobalContext().registerFilter(new JinjaCompat.PyToJson());
        return jinjava;
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + (source.length() > 60 ? source.substring(0, 60) + "..." : source) + "]";
    }
}
