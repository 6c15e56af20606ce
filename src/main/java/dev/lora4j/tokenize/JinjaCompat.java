package dev.lora4j.tokenize;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.beans.FeatureDescriptor;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The pieces that make Jinjava render Hugging Face chat templates the way Python's jinja2 does.
 *
 * <p>transformers renders chat templates with {@code ImmutableSandboxedEnvironment(trim_blocks=True,
 * lstrip_blocks=True)}, Python string methods on values ({@code content.strip()}, {@code .startswith(..)},
 * {@code .split(..)}) and its own {@code tojson}. Jinjava differs in a few places that real templates hit;
 * each difference is bridged here, and the ones left are listed in {@link ChatTemplate}.
 */
final class JinjaCompat {
    private JinjaCompat() {}

    // lstrip_blocks: jinja2 removes spaces/tabs between the start of a line and a block or comment tag.
    // Jinjava's own lstripBlocks strips trailing blanks before every tag, even after text on the same
    // line ("Hi {% if %}" loses its space), so it stays off and this rewrite does the jinja2 rule.
    private static final Pattern LSTRIP = Pattern.compile("(?m)^[ \\t]+(?=\\{%(?!\\+)|\\{#)");
    // Jinjava's parser has no extended slices; x[::-1] (Qwen3 walks messages backwards) becomes x|reverse.
    private static final Pattern REVERSE_SLICE =
            Pattern.compile("([A-Za-z_][\\w.]*(?:\\[[^\\[\\]]*\\])*)\\[\\s*:\\s*:\\s*-1\\s*\\]");

    /** Rewrites template source so that Jinjava (trim_blocks on, lstrip_blocks off) renders it as jinja2 would. */
    static String preprocess(String source) {
        // jinja2 normalises newlines to \n and, with keep_trailing_newline=False, drops one final newline.
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) s = s.substring(0, s.length() - 1);
        s = LSTRIP.matcher(s).replaceAll("");
        s = s.replace("{%+", "{%"); // "{%+" only means "do not lstrip this one", done above
        Matcher m = REVERSE_SLICE.matcher(s);
        return m.replaceAll(r -> Matcher.quoteReplacement("(" + r.group(1) + "|reverse)"));
    }

    /** Called by templates as {@code raise_exception(msg)}; ChatTemplate turns it into a ChatTemplateException. */
    public static String raiseException(Object message) {
        throw new RaisedException(String.valueOf(message));
    }

    /** The exception raise_exception throws; ChatTemplate finds it in Jinjava's error list by type. */
    static final class RaisedException extends RuntimeException {
        RaisedException(String message) {
            super(message);
        }
    }

    /** Python's str methods on strings, found before Jinjava's bean resolver would look for Java methods. */
    static final class PyStringMethods extends ELResolver {
        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
            if (!(base instanceof CharSequence cs) || !(method instanceof String name)) return null;
            Object[] p = params == null ? new Object[0] : params;
            Object result = call(cs.toString(), name, p);
            if (result == NOT_HANDLED) return null;
            context.setPropertyResolved(true);
            return result;
        }

        private static final Object NOT_HANDLED = new Object();

        private static Object call(String s, String name, Object[] p) {
            return switch (name) {
                case "strip" -> p.length == 0 ? s.strip() : rstrip(lstrip(s, str(p[0])), str(p[0]));
                case "lstrip" -> p.length == 0 ? s.stripLeading() : lstrip(s, str(p[0]));
                case "rstrip" -> p.length == 0 ? s.stripTrailing() : rstrip(s, str(p[0]));
                case "startswith" -> p.length == 1 ? affix(s, p[0], true) : NOT_HANDLED;
                case "endswith" -> p.length == 1 ? affix(s, p[0], false) : NOT_HANDLED;
                case "split" -> split(s, p.length > 0 ? p[0] : null, p.length > 1 ? ((Number) p[1]).intValue() : -1);
                case "upper" -> s.toUpperCase(Locale.ROOT);
                case "lower" -> s.toLowerCase(Locale.ROOT);
                case "title" -> title(s);
                case "capitalize" -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
                case "replace" -> p.length == 2 ? s.replace(str(p[0]), str(p[1])) : NOT_HANDLED;
                case "find" -> p.length == 1 ? (long) s.indexOf(str(p[0])) : NOT_HANDLED;
                case "count" -> p.length == 1 ? count(s, str(p[0])) : NOT_HANDLED;
                default -> NOT_HANDLED;
            };
        }

        private static String str(Object o) {
            return o == null ? "" : o.toString();
        }

        private static String lstrip(String s, String chars) {
            int i = 0;
            while (i < s.length() && chars.indexOf(s.charAt(i)) >= 0) i++;
            return s.substring(i);
        }

        private static String rstrip(String s, String chars) {
            int j = s.length();
            while (j > 0 && chars.indexOf(s.charAt(j - 1)) >= 0) j--;
            return s.substring(0, j);
        }

        private static boolean affix(String s, Object arg, boolean prefix) {
            // Python accepts a tuple of alternatives; a Jinja list arrives here as a Collection.
            if (arg instanceof Collection<?> c) {
                for (Object o : c) if (prefix ? s.startsWith(str(o)) : s.endsWith(str(o))) return true;
                return false;
            }
            return prefix ? s.startsWith(str(arg)) : s.endsWith(str(arg));
        }

        private static List<String> split(String s, Object sep, int maxSplit) {
            List<String> out = new ArrayList<>();
            if (sep == null) { // Python: runs of whitespace, no empty strings
                String rest = s.stripLeading();
                while (!rest.isEmpty()) {
                    if (maxSplit >= 0 && out.size() == maxSplit) { out.add(rest); return out; }
                    int i = 0;
                    while (i < rest.length() && !Character.isWhitespace(rest.charAt(i))) i++;
                    out.add(rest.substring(0, i));
                    rest = rest.substring(i).stripLeading();
                }
                return out;
            }
            String d = str(sep); // literal, not a regex as in Java's String.split
            if (d.isEmpty()) throw new IllegalArgumentException("empty separator");
            int from = 0;
            for (int at; (maxSplit < 0 || out.size() < maxSplit) && (at = s.indexOf(d, from)) >= 0; from = at + d.length()) {
                out.add(s.substring(from, at));
            }
            out.add(s.substring(from));
            return out;
        }

        private static String title(String s) {
            StringBuilder b = new StringBuilder(s.length());
            boolean prevCased = false;
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                b.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
                prevCased = Character.isLetter(c);
            }
            return b.toString();
        }

        private static long count(String s, String sub) {
            if (sub.isEmpty()) return s.length() + 1L;
            long n = 0;
            for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
            return n;
        }

        @Override
        public Object getValue(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public Class<?> getType(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public void setValue(ELContext context, Object base, Object property, Object value) {}

        @Override
        public boolean isReadOnly(ELContext context, Object base, Object property) {
            return true;
        }

        @Override
        public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
            return null;
        }

        @Override
        public Class<?> getCommonPropertyType(ELContext context, Object base) {
            return null;
        }
    }

    /**
     * {@code tojson} as transformers defines it: {@code json.dumps(x, ensure_ascii=False, indent=indent)}, so
     * {@code ", "} and {@code ": "} separators and Python's float repr. Tool-calling templates print tool
     * schemas with it, and the model was trained on exactly those bytes.
     */
    static final class PyToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            Integer indent = args.length > 0 && args[0] != null ? Integer.valueOf(args[0]) : null;
            return dumps(var, indent);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            return dumps(var, indent == null ? null : ((Number) indent).intValue());
        }

        static String dumps(Object value, Integer indent) {
            StringBuilder b = new StringBuilder();
            write(b, value, indent, 0);
            return b.toString();
        }

        private static void write(StringBuilder b, Object v, Integer indent, int depth) {
            switch (v) {
                case null -> b.append("null");
                case Boolean z -> b.append(z ? "true" : "false");
                case Double d -> b.append(pyFloat(d));
                case Float f -> b.append(pyFloat(f));
                case BigDecimal d -> b.append(pyFloat(d.doubleValue()));
                case Number n -> b.append(n instanceof BigInteger ? n.toString() : Long.toString(n.longValue()));
                case Map<?, ?> m -> {
                    if (m.isEmpty()) { b.append("{}"); return; }
                    b.append('{');
                    boolean first = true;
                    for (Map.Entry<?, ?> e : m.entrySet()) {
                        if (!first) b.append(indent == null ? ", " : ",");
                        first = false;
                        newline(b, indent, depth + 1);
                        string(b, String.valueOf(e.getKey()));
                        b.append(": ");
                        write(b, e.getValue(), indent, depth + 1);
                    }
                    newline(b, indent, depth);
                    b.append('}');
                }
                case Iterable<?> it -> list(b, it, indent, depth);
                case Object[] arr -> list(b, List.of(arr), indent, depth);
                default -> string(b, v.toString());
            }
        }

        private static void list(StringBuilder b, Iterable<?> it, Integer indent, int depth) {
            Iterator<?> i = it.iterator();
            if (!i.hasNext()) { b.append("[]"); return; }
            b.append('[');
            for (boolean first = true; i.hasNext(); first = false) {
                if (!first) b.append(indent == null ? ", " : ",");
                newline(b, indent, depth + 1);
                write(b, i.next(), indent, depth + 1);
            }
            newline(b, indent, depth);
            b.append(']');
        }

        private static void newline(StringBuilder b, Integer indent, int depth) {
            if (indent == null) return;
            b.append('\n').append(" ".repeat(indent * depth));
        }

        private static void string(StringBuilder b, String s) {
            b.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    case '\b' -> b.append("\\b");
                    case '\f' -> b.append("\\f");
                    default -> {
                        if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c); // ensure_ascii=False: everything else verbatim
                    }
                }
            }
            b.append('"');
        }

        /** Python's repr(float): shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
        static String pyFloat(double d) {
            if (Double.isNaN(d)) return "NaN";
            if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
            if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
            BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
            String digits = bd.unscaledValue().toString();
            int exp = digits.length() - 1 - bd.scale();
            String sign = d < 0 ? "-" : "";
            if (exp >= -4 && exp < 16) {
                String plain = bd.toPlainString();
                return sign + (plain.contains(".") ? plain : plain + ".0");
            }
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
        }
    }
}
