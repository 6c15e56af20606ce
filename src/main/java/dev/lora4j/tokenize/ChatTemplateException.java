package dev.lora4j.tokenize;

/** A chat template could not be rendered: it called {@code raise_exception(msg)} or has an error. */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
