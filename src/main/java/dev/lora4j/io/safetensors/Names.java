package dev.lora4j.io.safetensors;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/** Ordering and quoting of tensor names, shared by the reader, the writer and the sharded reader. */
final class Names {
    private static final int MAX_QUOTED = 200;
    private static final int SUGGESTIONS = 5;

    private Names() {
    }

    /**
     * Unicode code point order. It equals the byte order of the names' UTF-8, which is how Rust (and so
     * Python's safetensors) sorts them; {@link String#compareTo} compares UTF-16 units and differs above U+FFFF.
     */
    static final Comparator<String> UTF8_ORDER = (a, b) -> {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) return Integer.compare(ca, cb);
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Boolean.compare(i < a.length(), j < b.length());
    };

    /** A name in quotes, shortened: a hostile header can hold names of megabytes. */
    static String quote(String name) {
        if (name.length() <= MAX_QUOTED) return "'" + name + "'";
        return "'" + name.substring(0, MAX_QUOTED) + "...' (" + name.length() + " chars)";
    }

    /** "no tensor 'x'; ..." listing the available names most alike the one asked for. */
    static String noSuchTensor(String wanted, Collection<String> available) {
        if (available.isEmpty()) return "no tensor " + quote(wanted) + "; the file holds no tensors";
        List<String> closest = available.stream()
                .sorted(Comparator.comparingInt((String s) -> -likeness(s, wanted)).thenComparing(UTF8_ORDER))
                .limit(SUGGESTIONS)
                .map(Names::quote)
                .toList();
        String more = available.size() > closest.size() ? ", ... (" + available.size() + " in all)" : "";
        return "no tensor " + quote(wanted) + "; closest of the available: " + String.join(", ", closest) + more;
    }

    /** Common prefix or suffix length: HF names differ by a prefix (base_model.model.) or a layer index. */
    private static int likeness(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int prefix = 0;
        while (prefix < n && a.charAt(prefix) == b.charAt(prefix)) prefix++;
        int suffix = 0;
        while (suffix < n && a.charAt(a.length() - 1 - suffix) == b.charAt(b.length() - 1 - suffix)) suffix++;
        return Math.max(prefix, suffix);
    }
}
