package dev.lora4j.data;

import java.util.Locale;

/** What a dataset trains: the CLI's {@code --task causal-lm|classification|embedding}. */
public enum Task {
    CAUSAL_LM("causal-lm"),
    CLASSIFICATION("classification"),
    EMBEDDING("embedding");

    private final String cliName;

    Task(String cliName) {
        this.cliName = cliName;
    }

    /** The name used on the command line. */
    public String cliName() {
        return cliName;
    }

    /** Parses "causal-lm", "classification" or "embedding" (case-insensitive; "_" accepted for "-"). */
    public static Task parse(String s) {
        String n = s.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        for (Task t : values()) if (t.cliName.equals(n)) return t;
        throw new IllegalArgumentException("unknown task '" + s + "': expected causal-lm, classification or embedding");
    }

    @Override
    public String toString() {
        return cliName;
    }
}
