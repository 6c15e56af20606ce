package dev.lora4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The `lora4j` command line: the entry point of the launcher script and of the jar. */
@Command(name = "lora4j", mixinStandardHelpOptions = true, versionProvider = Lora4j.Version.class,
    description = "LoRA fine-tuning for the JVM, in pure Java.",
    subcommands = {TrainCommand.class, EvalCommand.class, EmbedCommand.class, GenerateCommand.class, MergeCommand.class,
        CompressCommand.class, InspectCommand.class, ServeCommand.class, BenchCommand.class, DemoCommand.class, CommandLine.HelpCommand.class})
public final class Lora4j implements Runnable {

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs one command line in this JVM and returns its exit status (what {@link #main} exits with). */
    public static int execute(String... args) {
        // Flags repeated after a --config file's expansion override it: the last occurrence wins.
        CommandLine cli = new CommandLine(new Lora4j()).setCaseInsensitiveEnumValuesAllowed(true)
            .setOverwrittenOptionsAllowed(true).setExecutionExceptionHandler(Lora4j::reportError);
        String[] expanded;
        try {
            expanded = ConfigFile.expand(cli, args);
        } catch (IllegalArgumentException e) {
            cli.getErr().println("lora4j " + args[0] + ": " + e.getMessage());
            return 2;
        }
        return cli.execute(expanded);
    }

    /**
     * Bad input (a malformed file, a missing model, a wrong option value) is the user's to fix: one clear line, exit
     * status 1. Anything else is a bug: the full stack trace.
     */
    private static int reportError(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) throws Exception {
        boolean userError = e instanceof IllegalArgumentException || e instanceof java.io.IOException
            || e instanceof java.io.UncheckedIOException || e instanceof IllegalStateException
            || e instanceof dev.lora4j.data.DatasetException;
        if (!userError) throw e;
        cmd.getErr().println("lora4j " + cmd.getCommandName() + ": " + e.getMessage());
        return 1;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** Reads the version from the jar manifest, so it is written in one place (pom.xml). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Lora4j.class.getPackage().getImplementationVersion();
            return new String[] {"lora4j " + (v == null ? "(development build)" : v),
                "Java " + Runtime.version() + ", " + System.getProperty("os.arch") + ", "
                    + Runtime.getRuntime().availableProcessors() + " cores"};
        }
    }
}
