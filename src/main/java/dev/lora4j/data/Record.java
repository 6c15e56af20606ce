package dev.lora4j.data;

import java.util.List;
import java.util.Objects;

/**
 * One example exactly as read from a dataset file, before tokenization. The shapes are the ones MLX-LM and
 * Hugging Face (Peft/TRL/sentence-transformers) users already have on disk, so their files work unchanged.
 */
public sealed interface Record {

    /** Which of the shapes a record has; every record of one file must share it. */
    enum Format {
        TEXT("text"),
        PROMPT_COMPLETION("prompt/completion"),
        CHAT("messages"),
        CLASSIFICATION("text/label"),
        PAIR("anchor/positive");

        private final String description;

        Format(String description) {
            this.description = description;
        }

        /** The keys that identify the format, for error messages. */
        public String description() {
            return description;
        }
    }

    /** This record's format. */
    Format format();

    /** {@code {"text": ...}}: plain causal-LM text, all of it trained. */
    record Text(String text) implements Record {
        public Text {
            Objects.requireNonNull(text, "text");
        }

        @Override
        public Format format() {
            return Format.TEXT;
        }
    }

    /** {@code {"prompt": ..., "completion": ...}}: the completion is trained; the prompt too unless masked. */
    record PromptCompletion(String prompt, String completion) implements Record {
        public PromptCompletion {
            Objects.requireNonNull(prompt, "prompt");
            Objects.requireNonNull(completion, "completion");
        }

        @Override
        public Format format() {
            return Format.PROMPT_COMPLETION;
        }
    }

    /** {@code {"messages": [{"role": ..., "content": ...}, ...]}}: rendered with the model's chat template. */
    record Chat(List<ChatMessage> messages) implements Record {
        public Chat {
            messages = List.copyOf(messages);
        }

        @Override
        public Format format() {
            return Format.CHAT;
        }
    }

    /**
     * {@code {"text": ..., "label": ...}} (or CSV columns text,label): a sequence classification example. An
     * integer label in JSON is kept as its decimal string; {@link Labels} turns labels into ids.
     */
    record Classification(String text, String label) implements Record {
        public Classification {
            Objects.requireNonNull(text, "text");
            Objects.requireNonNull(label, "label");
        }

        @Override
        public Format format() {
            return Format.CLASSIFICATION;
        }
    }

    /**
     * {@code {"anchor": ..., "positive": ...[, "negative": ...]}}: an embedding (contrastive) example as in
     * sentence-transformers; {@code negative} is null when the file has none (in-batch negatives then).
     */
    record Pair(String anchor, String positive, String negative) implements Record {
        public Pair {
            Objects.requireNonNull(anchor, "anchor");
            Objects.requireNonNull(positive, "positive");
        }

        @Override
        public Format format() {
            return Format.PAIR;
        }
    }
}
