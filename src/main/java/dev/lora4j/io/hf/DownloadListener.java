package dev.lora4j.io.hf;

/**
 * Hears how downloads from the Hub progress, so a command line can draw a progress bar. Calls come on the
 * thread that called {@link HubClient#resolve}, one file at a time. Every method defaults to doing nothing.
 */
public interface DownloadListener {
    DownloadListener NONE = new DownloadListener() {
    };

    /** A file's body starts to arrive; {@code totalBytes} is -1 when the server did not say. */
    default void started(String file, long totalBytes) {
    }

    /** More of the file has arrived (called about every 64 KiB). */
    default void progressed(String file, long bytesDone, long totalBytes) {
    }

    /** The file is complete and in the cache. */
    default void finished(String file, long bytes) {
    }
}
