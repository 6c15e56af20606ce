package dev.lora4j.io.hf;

import java.util.regex.Pattern;

/**
 * A model on the Hugging Face Hub: a repository id "org/name" and a revision (a branch, a tag or a commit hash;
 * "main" unless the reference says "org/name@revision").
 *
 * <p>The rules are huggingface_hub's: each half of the id is letters, digits, '-', '_' and '.', at most 96
 * characters, and the id may not contain "--" or ".." (the cache folder models--org--name joins the halves with
 * "--"). A revision may contain '/' (refs/pr/1) but no ".." segment: it becomes a file name under refs/.
 */
public record HubId(String repo, String revision) {
    public static final String DEFAULT_REVISION = "main";

    private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    public HubId {
        String problem = problem(repo, revision);
        if (problem != null) throw new IllegalArgumentException(problem);
    }

    /** Parses "org/name" or "org/name@revision". */
    public static HubId parse(String ref) {
        int at = ref.indexOf('@');
        return at < 0 ? new HubId(ref, DEFAULT_REVISION) : new HubId(ref.substring(0, at), ref.substring(at + 1));
    }

    /** Whether {@link #parse} would accept the reference. */
    public static boolean isHubId(String ref) {
        int at = ref.indexOf('@');
        return at < 0 ? problem(ref, DEFAULT_REVISION) == null : problem(ref.substring(0, at), ref.substring(at + 1)) == null;
    }

    /** Whether a revision is a full commit hash, which names a snapshot by itself (no refs/ file needed). */
    public static boolean isCommitHash(String revision) {
        return COMMIT.matcher(revision).matches();
    }

    public String org() {
        return repo.substring(0, repo.indexOf('/'));
    }

    public String name() {
        return repo.substring(repo.indexOf('/') + 1);
    }

    /** The cache folder name, as huggingface_hub spells it: models--org--name. */
    public String cacheFolderName() {
        return "models--" + repo.replace("/", "--");
    }

    private static String problem(String repo, String revision) {
        if (repo == null || revision == null) return "repository id and revision must not be null";
        int slash = repo.indexOf('/');
        if (slash < 0 || slash != repo.lastIndexOf('/')
                || !PART.matcher(repo.substring(0, slash)).matches() || !PART.matcher(repo.substring(slash + 1)).matches()
                || repo.contains("--") || repo.contains("..")) {
            return "\"" + repo + "\" is not a Hugging Face Hub id: expected org/name (letters, digits, '-', '_', '.';"
                    + " no \"--\" or \"..\"), e.g. HuggingFaceTB/SmolLM2-135M";
        }
        if (!REVISION.matcher(revision).matches() || ("/" + revision + "/").contains("/../")
                || ("/" + revision + "/").contains("/./")) {
            return "\"" + revision + "\" is not a usable revision of " + repo
                    + ": expected a branch, tag or commit hash such as main, v1.0 or refs/pr/1";
        }
        return null;
    }

    @Override
    public String toString() {
        return DEFAULT_REVISION.equals(revision) ? repo : repo + "@" + revision;
    }
}
