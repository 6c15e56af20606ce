package dev.lora4j.tokenize;

/** A tokenizer could not be loaded or used; the message names the file and what is wrong with it. */
public final class TokenizerException extends RuntimeException {
    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
