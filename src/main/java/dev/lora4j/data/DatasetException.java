package dev.lora4j.data;

/** A dataset file that cannot be read as a dataset; the message names the file (and line) and what was expected. */
public class DatasetException extends RuntimeException {
    public DatasetException(String message) {
        super(message);
    }

    public DatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
