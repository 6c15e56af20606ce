package dev.lora4j.io.hf;

import java.io.IOException;

/** A directory is not a usable Hugging Face model directory; the message names the file and what is wrong. */
public class ModelDirectoryException extends IOException {
    public ModelDirectoryException(String message) {
        super(message);
    }

    public ModelDirectoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
