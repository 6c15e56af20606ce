package dev.lora4j.peft;

import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which modules get LoRA, with Peft's matching rules: a list of names matches a module whose dotted path
 * equals a name or ends with "." + name; a regular expression must match the whole path; all-linear takes
 * every linear layer but the output head.
 */
public sealed interface TargetModules {
    boolean matches(String path);

    /** Peft's list form: {@code ["q_proj", "v_proj"]}. */
    record Names(List<String> names) implements TargetModules {
        public Names {
            names = List.copyOf(names);
            if (names.isEmpty()) throw new IllegalArgumentException("target_modules: empty list");
        }

        @Override
        public boolean matches(String path) {
            for (String n : names) if (path.equals(n) || path.endsWith("." + n)) return true;
            return false;
        }
    }

    /** Peft's string form: a regex that must match the full module path. */
    record Regex(String regex) implements TargetModules {
        @Override
        public boolean matches(String path) {
            return Pattern.compile(regex).matcher(path).matches();
        }
    }

    /** Peft's "all-linear": every linear layer except the model's output layer. */
    record AllLinear() implements TargetModules {
        @Override
        public boolean matches(String path) {
            return true;
        }
    }

    /** From a command-line value: "all-linear", a regex (if it has regex characters), or a comma list. */
    static TargetModules parse(String spec) {
        String s = spec.trim();
        if (s.equalsIgnoreCase("all-linear")) return new AllLinear();
        if (s.chars().anyMatch(c -> "*+?[](){}|^$\\".indexOf(c) >= 0)) return new Regex(s);
        return new Names(Arrays.stream(s.split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList());
    }
}
