package dev.lora4j.io.hf;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Where the Hub and its cache are, read from the environment variables huggingface_hub reads, so that Java and
 * Python share one cache and one login.
 *
 * <ul>
 *   <li>cache: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (the old name), else $HF_HOME/hub, where HF_HOME
 *       defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. A leading "~" is expanded.</li>
 *   <li>endpoint: $HF_ENDPOINT, else https://huggingface.co (a mirror may be named here).</li>
 *   <li>token: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file `huggingface-cli login` writes:
 *       $HF_TOKEN_PATH, else $HF_HOME/token.</li>
 *   <li>offline: $HF_HUB_OFFLINE set to 1, ON, YES or TRUE (any case) forbids all network access.</li>
 * </ul>
 *
 * @param cacheDir the hub cache root, which holds models--org--name folders
 * @param endpoint the Hub's base URL, without a trailing slash
 * @param token    an access token sent as "Authorization: Bearer"; hidden by {@link #toString()}
 * @param offline  whether the network is off limits
 */
public record HubSettings(Path cacheDir, URI endpoint, Optional<String> token, boolean offline) {
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";
    private static final Set<String> TRUE_VALUES = Set.of("1", "ON", "YES", "TRUE");

    public HubSettings {
        Objects.requireNonNull(cacheDir, "cacheDir");
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(token, "token");
        cacheDir = cacheDir.toAbsolutePath().normalize();
        String scheme = endpoint.getScheme();
        if (!"http".equalsIgnoreCase(scheme) && !"https".equalsIgnoreCase(scheme) || endpoint.getHost() == null) {
            throw new IllegalArgumentException("Hub endpoint " + endpoint + " is not an http(s) URL");
        }
        String s = endpoint.toString();
        while (s.endsWith("/")) s = s.substring(0, s.length() - 1);
        endpoint = URI.create(s);
    }

    /** Reads this process's environment. */
    public static HubSettings fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** Reads the given environment, with the user's home directory from the "user.home" system property. */
    public static HubSettings fromEnvironment(Map<String, String> env) {
        return fromEnvironment(env, Path.of(System.getProperty("user.home")));
    }

    /**
     * Reads the given environment (a test passes its own map and home directory, so nothing of the real user's
     * cache or login leaks in).
     *
     * @throws IllegalArgumentException if HF_ENDPOINT is not an http(s) URL or a path variable is not a path
     */
    public static HubSettings fromEnvironment(Map<String, String> env, Path userHome) {
        Path hfHome = pathVar(env, "HF_HOME", userHome);
        if (hfHome == null) {
            Path xdg = pathVar(env, "XDG_CACHE_HOME", userHome);
            hfHome = (xdg != null ? xdg : userHome.resolve(".cache")).resolve("huggingface");
        }
        Path cache = pathVar(env, "HF_HUB_CACHE", userHome);
        if (cache == null) cache = pathVar(env, "HUGGINGFACE_HUB_CACHE", userHome);
        if (cache == null) cache = hfHome.resolve("hub");

        String endpointText = var(env, "HF_ENDPOINT");
        URI endpoint;
        try {
            endpoint = new URI(endpointText != null ? endpointText : DEFAULT_ENDPOINT);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("HF_ENDPOINT=" + endpointText + " is not a URL: " + e.getMessage(), e);
        }

        String token = var(env, "HF_TOKEN");
        if (token == null) token = var(env, "HUGGING_FACE_HUB_TOKEN");
        if (token == null) {
            Path tokenFile = pathVar(env, "HF_TOKEN_PATH", userHome);
            token = readToken(tokenFile != null ? tokenFile : hfHome.resolve("token"));
        }

        String offline = var(env, "HF_HUB_OFFLINE");
        boolean isOffline = offline != null && TRUE_VALUES.contains(offline.toUpperCase(Locale.ROOT));
        return new HubSettings(cache, endpoint, Optional.ofNullable(token), isOffline);
    }

    /** The same settings with the network forbidden (or allowed). */
    public HubSettings withOffline(boolean offline) {
        return new HubSettings(cacheDir, endpoint, token, offline);
    }

    private static String var(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null) return null;
        v = v.strip();
        return v.isEmpty() ? null : v;
    }

    private static Path pathVar(Map<String, String> env, String name, Path userHome) {
        String v = var(env, name);
        if (v == null) return null;
        try {
            if (v.equals("~")) return userHome;
            if (v.startsWith("~/")) return userHome.resolve(v.substring(2));
            return Path.of(v);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException(name + "=" + v + " is not a usable path: " + e.getMessage(), e);
        }
    }

    /** The token file's first non-blank line, or null if there is no readable file. */
    private static String readToken(Path file) {
        try {
            if (!Files.isRegularFile(file)) return null;
            for (String line : Files.readAllLines(file)) {
                if (!line.isBlank()) return line.strip();
            }
        } catch (IOException | RuntimeException e) {
            // An unreadable token file is as good as none: public models still download.
        }
        return null;
    }

    @Override
    public String toString() {
        return "HubSettings[cacheDir=" + cacheDir + ", endpoint=" + endpoint + ", token="
                + (token.isPresent() ? "(set)" : "(none)") + ", offline=" + offline + "]";
    }
}
