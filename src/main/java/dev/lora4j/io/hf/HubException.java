package dev.lora4j.io.hf;

import java.io.IOException;

/** The Hub or the local Hugging Face cache could not supply a model; the message says why and what to do. */
public class HubException extends IOException {
    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
