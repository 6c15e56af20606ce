package dev.lora4j.data;

import java.util.ArrayList;
import java.util.List;

/**
 * A small RFC 4180 CSV parser (no dependency for one format): comma separator, fields optionally in double
 * quotes, {@code ""} for a quote inside quotes, commas and line breaks (LF or CRLF) allowed inside quotes.
 * Each row remembers the physical line it starts on, so errors can point at it.
 */
final class Csv {
    /** One row and the 1-based line number where it starts. */
    record Row(List<String> fields, int line) {}

    private Csv() {}

    /**
     * Parses the whole text. Blank lines outside quotes are skipped (a trailing newline is not an empty row).
     *
     * @param file the file name for error messages
     */
    static List<Row> parse(String text, String file) {
        List<Row> rows = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        int line = 1, rowLine = 1, quoteLine = 0;
        boolean inQuotes = false, quoted = false, rowHasContent = false;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (inQuotes) {
                if (c == '"') {
                    if (i + 1 < n && text.charAt(i + 1) == '"') {
                        field.append('"');
                        i++;
                    } else {
                        inQuotes = false;
                    }
                } else {
                    if (c == '\n') line++;
                    field.append(c);
                }
                continue;
            }
            switch (c) {
                case '"' -> {
                    // A quote opens a quoted field only at the start of a field; elsewhere RFC 4180 forbids it.
                    if (field.length() > 0 || quoted) {
                        throw new DatasetException(file + ":" + line + ": a double quote inside an unquoted field; "
                                + "quote the whole field and double the inner quotes (\"\")");
                    }
                    inQuotes = quoted = rowHasContent = true;
                    quoteLine = line;
                }
                case ',' -> {
                    fields.add(field.toString());
                    field.setLength(0);
                    quoted = false;
                    rowHasContent = true;
                }
                case '\r' -> {
                    // CR only ends a line as part of CRLF; a lone CR is kept as data.
                    if (i + 1 < n && text.charAt(i + 1) == '\n') continue;
                    field.append(c);
                    rowHasContent = true;
                }
                case '\n' -> {
                    if (rowHasContent || field.length() > 0) {
                        fields.add(field.toString());
                        rows.add(new Row(List.copyOf(fields), rowLine));
                    }
                    fields.clear();
                    field.setLength(0);
                    quoted = rowHasContent = false;
                    line++;
                    rowLine = line;
                }
                default -> {
                    if (quoted) {
                        throw new DatasetException(file + ":" + line + ": unexpected character '" + c
                                + "' after a closing double quote; expected a comma or the end of the line");
                    }
                    field.append(c);
                    rowHasContent = true;
                }
            }
        }
        if (inQuotes) throw new DatasetException(file + ":" + quoteLine + ": a quoted field is never closed (missing \")");
        if (rowHasContent || field.length() > 0) {
            fields.add(field.toString());
            rows.add(new Row(List.copyOf(fields), rowLine));
        }
        return rows;
    }
}
