package dev.lora4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code --config file.yaml}: a YAML mapping of option names to values (as MLX-LM's {@code lora --config}), turned
 * into command-line flags placed before the ones typed, so that typed flags override the file. Keys are the long
 * option names without dashes ({@code lr}, {@code lora-r}; {@code lora_r} also works); booleans switch flags on or
 * off; lists become repeated options (or a comma list for options that take one).
 */
final class ConfigFile {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private ConfigFile() {}

    /**
     * Returns {@code args} with the {@code --config} of the named subcommand expanded; unchanged when there is none.
     *
     * @throws IllegalArgumentException for an unreadable file, a non-mapping document, or a key that names no option
     */
    static String[] expand(CommandLine root, String[] args) {
        if (args.length == 0 || !root.getSubcommands().containsKey(args[0])) return args;
        CommandSpec spec = root.getSubcommands().get(args[0]).getCommandSpec();
        if (spec.findOption("--config") == null) return args;
        List<String> rest = new ArrayList<>();
        Path config = null;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) config = Path.of(args[++i]);
            else if (args[i].startsWith("--config=")) config = Path.of(args[i].substring("--config=".length()));
            else rest.add(args[i]);
        }
        if (config == null) return args;
        List<String> out = new ArrayList<>();
        out.add(args[0]);
        out.addAll(flags(config, spec));
        out.addAll(rest);
        return out.toArray(String[]::new);
    }

    private static List<String> flags(Path file, CommandSpec spec) {
        JsonNode doc;
        try {
            doc = YAML.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read the config file: " + e.getMessage(), e);
        }
        if (doc == null || doc.isMissingNode() || doc.isNull()) return List.of();
        if (!doc.isObject()) throw new IllegalArgumentException(file + ": expected a YAML mapping of option names to values");
        List<String> flags = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = doc.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = "--" + e.getKey().trim().replace('_', '-');
            OptionSpec option = spec.findOption(name);
            if (option == null || name.equals("--config")) {
                TreeSet<String> known = new TreeSet<>();
                for (OptionSpec o : spec.options()) if (!o.longestName().equals("--config")) known.add(o.longestName().substring(2));
                throw new IllegalArgumentException(file + ": unknown key '" + e.getKey() + "'; " + spec.name() + " takes " + known);
            }
            JsonNode v = e.getValue();
            if (option.arity().max() == 0) {
                if (!v.isBoolean()) throw new IllegalArgumentException(file + ": key '" + e.getKey() + "' is a switch; expected true or false, got " + v);
                if (v.booleanValue()) flags.add(name);
            } else if (v.isArray()) {
                if (option.isMultiValue()) {
                    for (JsonNode item : v) {
                        flags.add(name);
                        flags.add(item.asText());
                    }
                } else {
                    List<String> items = new ArrayList<>();
                    v.forEach(item -> items.add(item.asText()));
                    flags.add(name);
                    flags.add(String.join(",", items));
                }
            } else if (v.isValueNode() && !v.isNull()) {
                flags.add(name);
                flags.add(v.asText());
            } else {
                throw new IllegalArgumentException(file + ": key '" + e.getKey() + "' needs a value, got " + v);
            }
        }
        return flags;
    }
}
