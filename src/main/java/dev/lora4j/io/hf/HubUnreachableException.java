package dev.lora4j.io.hf;

/** The Hub could not be reached at all (no connection, DNS, TLS, timeout), as opposed to refusing a request. */
public class HubUnreachableException extends HubException {
    public HubUnreachableException(String message, Throwable cause) {
        super(message, cause);
    }
}
