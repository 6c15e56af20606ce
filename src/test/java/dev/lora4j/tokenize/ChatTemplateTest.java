package dev.lora4j.tokenize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.tokenize.ChatTemplate.Message;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Real-world chat templates (copied from the tokenizer_config.json of the named models) rendered with Jinjava;
 * each expected string is what transformers' jinja2 (trim_blocks, lstrip_blocks) produces for it, worked out
 * by hand from jinja2's rules and checked once against jinja2 3.1.6 set up as transformers does.
 */
class ChatTemplateTest {
    // Qwen2-7B-Instruct. The \\n are Jinja string escapes, as in the JSON file.
    static final String QWEN2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
            + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    // Meta-Llama-3-8B-Instruct: `a + b | trim + c` trims b only (filters bind tighter than +).
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
            + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    // The indented multi-line style of early Mistral/Llama-2 templates: trim_blocks and lstrip_blocks decide
    // every character of whitespace here, and the indentation before {{ }} survives (lstrip is for blocks only).
    static final String MISTRAL_INDENTED = """
            {{ bos_token }}
            {% for message in messages %}
                {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
                    {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
                {% endif %}
                {% if message['role'] == 'user' %}
                    {{ '[INST] ' + message['content'] + ' [/INST]' }}
                {% elif message['role'] == 'assistant' %}
                    {{ message['content'] + eos_token}}
                {% endif %}
            {% endfor %}
            """;

    @Test
    void qwen2ChatMl() {
        ChatTemplate t = new ChatTemplate(QWEN2, "", "<|im_end|>");
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                        + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
                t.render(List.of(Message.user("Hi"), Message.assistant("Hello!")), false));
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                t.render(List.of(Message.system("Be brief."), Message.user("Hi")), true));
    }

    @Test
    void llama3WithBosAndTrim() {
        ChatTemplate t = new ChatTemplate(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        String out = t.render(List.of(Message.system("  Be brief.\n"), Message.user("Hi")), true);
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", out);
    }

    @Test
    void indentedTemplateFollowsTrimAndLstripBlocks() {
        ChatTemplate t = new ChatTemplate(MISTRAL_INDENTED, "<s>", "</s>");
        String out = t.render(List.of(Message.user("Hi"), Message.assistant("Hello!"), Message.user("Bye")), false);
        assertEquals("<s>\n        [INST] Hi [/INST]\n        Hello!</s>\n        [INST] Bye [/INST]\n", out);
    }

    @Test
    void raiseExceptionFailsWithItsMessage() {
        ChatTemplate t = new ChatTemplate(MISTRAL_INDENTED, "<s>", "</s>");
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> t.render(List.of(Message.user("Hi"), Message.user("again")), false));
        assertEquals("chat template raised an exception: Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
    }

    @Test
    void brokenTemplateIsAnError() {
        ChatTemplate t = new ChatTemplate("{% for m in messages %}{{ m.content }}", "", "");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(List.of(Message.user("x")), false));
        assertTrue(e.getMessage().startsWith("chat template failed to render"), e.getMessage());
    }

    @Test
    void whitespaceRulesOfJinja2() {
        // lstrip_blocks only strips from the start of a line: the space after "Hi" stays.
        assertEquals("Hi x", render("Hi {% if true %}x{% endif %}"));
        // Indentation before a tag goes, the newline after it goes (trim_blocks), comments included.
        assertEquals("x", render("  {% if true %}x{% endif %}\n"));
        assertEquals("a\nb", render("a\n  {# note #}\nb"));
        // {{ }} keeps its newline; one trailing newline of the template is dropped (keep_trailing_newline=False).
        assertEquals("1\n2", render("{{ 1 }}\n{{ 2 }}\n"));
        // Whitespace control and {{x}} without spaces
        assertEquals("userassistant", render("{%- for m in messages -%}\n  {{- m.role -}}\n{%- endfor -%}"));
        assertEquals("user", render("{{messages[0].role}}"));
        // "{%+" keeps the indentation
        assertEquals("  x", render("  {%+ if true %}x{% endif %}"));
    }

    @Test
    void pythonIdiomsOfNewerTemplates() {
        // namespace(), messages[::-1], loop.index0/last, and str methods as Qwen3's template uses them
        String src = "{%- set ns = namespace(last_user=-1) %}"
                + "{%- for m in messages[::-1] %}{%- if ns.last_user == -1 and m.role == 'user' %}"
                + "{%- set ns.last_user = (messages|length - 1) - loop.index0 %}{%- endif %}{%- endfor %}"
                + "{{ ns.last_user }}|"
                + "{%- for m in messages %}{%- if m.content.startswith('<think>') %}{{ m.content.split('</think>')[-1].lstrip('\\n') }}"
                + "{%- else %}{{ m.content.strip() }}{%- endif %}{%- if not loop.last %},{% endif %}{%- endfor %}"
                + "|{{ messages[1:]|length }}|{{ 'a|b||c'.split('|') }}|{{ ' x y  '.split() }}|{{ 'ab'.upper() ~ 'CD'.lower() }}"
                + "|{{ 'x.y'.endswith(['.z', '.y']) }}";
        List<Message> msgs = List.of(Message.user(" a "), Message.assistant("<think>x</think>\n\nb"), Message.user("c"), Message.assistant("d"));
        // jinja2 prints the last one as "True"; Jinjava prints booleans lower-case (a documented difference)
        assertEquals("2|a,b,c,d|3|['a', 'b', '', 'c']|['x', 'y']|ABcd|true", new ChatTemplate(src, "", "").render(msgs, false));
    }

    @Test
    void toJsonLikeTransformers() {
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("x", 1.5);
        params.put("ok", true);
        params.put("n", 3);
        params.put("s", "é\"\n");
        Map<String, Object> fn = new LinkedHashMap<>();
        fn.put("name", "get_weather");
        fn.put("parameters", params);
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("type", "function");
        tool.put("function", fn);
        ChatTemplate t = new ChatTemplate("{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}", "", "");
        String out = t.render(List.of(), false, Map.of("tools", List.of(tool)));
        // json.dumps(tool, ensure_ascii=False): ", " and ": " separators, é kept, quote and newline escaped
        assertEquals("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
                + "\"parameters\": {\"x\": 1.5, \"ok\": true, \"n\": 3, \"s\": \"é\\\"\\n\"}}}\n", out);
        assertEquals("{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"x\"\n}", render("{{ {'a': [1, 2], 'b': 'x'}|tojson(indent=2) }}"));
    }

    @Test
    void pythonFloatRepr() {
        assertEquals("1e-05", JinjaCompat.PyToJson.pyFloat(1e-5));
        assertEquals("0.0001", JinjaCompat.PyToJson.pyFloat(1e-4));
        assertEquals("1e+16", JinjaCompat.PyToJson.pyFloat(1e16));
        assertEquals("1000000000000000.0", JinjaCompat.PyToJson.pyFloat(1e15));
        assertEquals("-2.5e-07", JinjaCompat.PyToJson.pyFloat(-2.5e-7));
        assertEquals("0.1", JinjaCompat.PyToJson.pyFloat(0.1));
        assertEquals("123.456", JinjaCompat.PyToJson.pyFloat(123.456));
        assertEquals("3.0", JinjaCompat.PyToJson.pyFloat(3.0));
    }

    @Test
    void chatMlFallback() {
        ChatTemplate t = ChatTemplate.chatMlFallback();
        assertEquals("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n",
                t.render(List.of(Message.system("S"), Message.user("U")), true));
        assertEquals("<|im_end|>", t.eosToken());
    }

    private static String render(String template) {
        return new ChatTemplate(template, "", "").render(List.of(Message.user("u"), Message.assistant("a")), false);
    }
}
