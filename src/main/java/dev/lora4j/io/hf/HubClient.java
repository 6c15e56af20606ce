package dev.lora4j.io.hf;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.io.safetensors.ShardedSafetensors;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import javax.net.ssl.SSLException;

/**
 * Turns a model reference into a local model directory: an existing directory as it is, a Hub id "org/name" or
 * "org/name@revision" into a snapshot folder of the Hugging Face cache ({@link HubCache}), downloading what the
 * cache lacks.
 *
 * <p>A model needs config.json and its safetensors weights (model.safetensors, or model.safetensors.index.json
 * and every shard it lists); {@link #OPTIONAL_FILES} are fetched when the Hub has them, and a 404 is remembered
 * in .no_exist/ as huggingface_hub remembers it. A snapshot that has all of these is used with no network access
 * at all: a branch such as "main" is not re-checked unless {@code checkForUpdates} is asked for. (huggingface_hub
 * sends one HEAD request per file to check; we prefer a run that works on a plane. If the Hub cannot be reached
 * while checking, a cached snapshot with the required files is used, as huggingface_hub does.)
 *
 * <p>Downloads: GET {endpoint}/{org}/{name}/resolve/{revision}/{file}. The first file, config.json, is asked for
 * at the user's revision; the commit in the response's X-Repo-Commit header names the snapshot and every other
 * file is asked for at that commit, so one snapshot never mixes two commits. Redirects are followed by hand
 * (at most 10) so that the token is sent only to the endpoint's own origin, never to the CDN a large file
 * redirects to, and so that the Hub's headers (X-Repo-Commit, X-Linked-Etag) are seen. The body goes to
 * blobs/&lt;etag&gt;.incomplete under a lock, is checked against Content-Length and, for an LFS file whose etag
 * is a SHA-256, against that hash, forced to disk and renamed to blobs/&lt;etag&gt;; on any failure the
 * .incomplete file is deleted, so a partial download is never taken for a complete one. Downloads do not
 * resume: a broken one starts again.
 *
 * <p>Several threads, clients or processes may fill one cache at once: each blob is written under a lock file
 * (.locks/, as huggingface_hub's) and appears by atomic rename; refs and snapshot links are replaced atomically.
 * A listener shared by threads hears their downloads interleaved.
 */
public final class HubClient implements AutoCloseable {
    public static final String CONFIG_FILE = "config.json";
    public static final String WEIGHTS_FILE = ShardedSafetensors.SINGLE_FILE;
    public static final String WEIGHTS_INDEX_FILE = ShardedSafetensors.INDEX_FILE;
    /** Fetched when the Hub has them: what the tokenizer, the chat template, generation and a merge need. */
    public static final List<String> OPTIONAL_FILES = List.of(
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
            "chat_template.jinja");

    private static final int MAX_REDIRECTS = 10;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** Until the response headers arrive. */
    private static final Duration HEADERS_TIMEOUT = Duration.ofSeconds(60);
    /** The longest a body may go without a byte before the download is abandoned (a stalled connection). */
    static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(60);
    private static final int BUFFER_BYTES = 1 << 16;
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** One monitor per lock file: a FileLock excludes other processes, not other threads of this one. */
    private static final Map<Path, Object> JVM_LOCKS = new ConcurrentHashMap<>();
    private static final String USER_AGENT = "lora4j/" + version() + "; java/" + Runtime.version().feature();

    private final HubSettings settings;
    private final HubCache cache;
    private final DownloadListener listener;
    private final Duration stallTimeout;
    private HttpClient http;

    public HubClient(HubSettings settings) {
        this(settings, DownloadListener.NONE);
    }

    public HubClient(HubSettings settings, DownloadListener listener) {
        this(settings, listener, DEFAULT_STALL_TIMEOUT);
    }

    /** With a custom stall timeout (tests use a short one). */
    HubClient(HubSettings settings, DownloadListener listener, Duration stallTimeout) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.listener = Objects.requireNonNull(listener, "listener");
        this.stallTimeout = Objects.requireNonNull(stallTimeout, "stallTimeout");
        this.cache = new HubCache(settings.cacheDir());
    }

    /** {@link #resolve(String)} with settings from this process's environment. */
    public static Path resolve(String modelRef, DownloadListener listener) throws IOException {
        return resolve(modelRef, System.getenv(), listener);
    }

    /** {@link #resolve(String)} with settings read from the given environment ({@link HubSettings#fromEnvironment}). */
    public static Path resolve(String modelRef, Map<String, String> env, DownloadListener listener) throws IOException {
        try (HubClient client = new HubClient(HubSettings.fromEnvironment(env), listener)) {
            return client.resolve(modelRef);
        }
    }

    public HubSettings settings() {
        return settings;
    }

    public HubCache cache() {
        return cache;
    }

    /** A local directory, or the cached (downloaded if need be) snapshot of a Hub model; see the class comment. */
    public Path resolve(String modelRef) throws IOException {
        return resolve(modelRef, false);
    }

    /**
     * @param checkForUpdates for a Hub id, ask the Hub which commit the revision names now even when the cache
     *                        already has a complete snapshot of it (ignored offline)
     * @throws ModelDirectoryException if the reference names a file rather than a directory
     * @throws HubException            if it is neither a directory nor a Hub id, or the model cannot be had
     */
    public Path resolve(String modelRef, boolean checkForUpdates) throws IOException {
        Objects.requireNonNull(modelRef, "modelRef");
        Path local = localDirectory(modelRef);
        if (local != null) return local;
        if (!HubId.isHubId(modelRef)) {
            String why = "it is not a Hugging Face Hub id (org/name or org/name@revision, e.g."
                    + " HuggingFaceTB/SmolLM2-135M) either";
            if (modelRef.matches("[^/.~\\\\][^/]*/[^/]+")) {  // shaped like org/name: say which rule it breaks
                try {
                    HubId.parse(modelRef);
                } catch (IllegalArgumentException e) {
                    why = "as a Hub id: " + e.getMessage();
                }
            }
            throw new HubException("no such model directory \"" + modelRef + "\"; " + why);
        }
        return snapshot(HubId.parse(modelRef), checkForUpdates);
    }

    /** The snapshot folder of a Hub model with at least its required files, downloading what is missing. */
    public Path snapshot(HubId id, boolean checkForUpdates) throws IOException {
        Optional<String> cached = cache.commitOf(id);
        if (settings.offline()) {
            if (cached.isEmpty()) {
                throw new HubException("model \"" + id + "\" is not in the Hugging Face cache at " + cache.repoDir(id)
                        + " (no refs/" + id.revision() + "), and offline mode is on (HF_HUB_OFFLINE="
                        + "1) so it cannot be downloaded: run once without HF_HUB_OFFLINE, or pass a local model"
                        + " directory");
            }
            List<String> missing = missingRequired(id, cached.get());
            if (!missing.isEmpty()) {
                throw new HubException("model \"" + id + "\" is incomplete in the Hugging Face cache at "
                        + cache.snapshotDir(id, cached.get()) + " (missing: " + String.join(", ", missing)
                        + "), and offline mode is on (HF_HUB_OFFLINE=1) so it cannot be downloaded: run once"
                        + " without HF_HUB_OFFLINE");
            }
            return cache.snapshotDir(id, cached.get());
        }
        if (cached.isPresent() && !checkForUpdates && isComplete(id, cached.get())) {
            return cache.snapshotDir(id, cached.get());
        }
        try {
            return download(id);
        } catch (HubUnreachableException e) {
            if (cached.isPresent() && missingRequired(id, cached.get()).isEmpty()) return cache.snapshotDir(id, cached.get());
            throw e;
        }
    }

    /** The required files the cached snapshot lacks: config.json and the weights (every shard of an index). */
    private List<String> missingRequired(HubId id, String commit) throws IOException {
        List<String> missing = new ArrayList<>();
        if (!cache.hasFile(id, commit, CONFIG_FILE)) missing.add(CONFIG_FILE);
        if (cache.hasFile(id, commit, WEIGHTS_INDEX_FILE)) {
            for (String shard : shardNames(cache.snapshotFile(id, commit, WEIGHTS_INDEX_FILE))) {
                if (!cache.hasFile(id, commit, shard)) missing.add(shard);
            }
        } else if (!cache.hasFile(id, commit, WEIGHTS_FILE)) {
            missing.add(WEIGHTS_FILE + " or " + WEIGHTS_INDEX_FILE);
        }
        return missing;
    }

    /** The required files are there and each optional one is either there or known not to exist. */
    private boolean isComplete(HubId id, String commit) throws IOException {
        if (!missingRequired(id, commit).isEmpty()) return false;
        for (String file : OPTIONAL_FILES) {
            if (!cache.hasFile(id, commit, file) && !cache.isKnownMissing(id, commit, file)) return false;
        }
        return true;
    }

    private Path download(HubId id) throws IOException {
        Fetch config = fetch(id, id.revision(), null, CONFIG_FILE);
        if (!config.found()) throw noSuchModel(id, config);
        String commit = config.commit();
        cache.writeRef(id, commit);
        // Everything else at the commit config.json came from, so the snapshot is one commit's files.
        String at = config.commitFromServer() ? commit : id.revision();

        if (!cache.hasFile(id, commit, WEIGHTS_INDEX_FILE) && !cache.hasFile(id, commit, WEIGHTS_FILE)) {
            boolean found = fetchOptional(id, at, commit, WEIGHTS_FILE) || fetchOptional(id, at, commit, WEIGHTS_INDEX_FILE);
            if (!found) {
                throw new HubException("model \"" + id + "\" has neither " + WEIGHTS_FILE + " nor " + WEIGHTS_INDEX_FILE
                        + " at commit " + commit + ": lora4j reads safetensors weights only (a repository with only"
                        + " pytorch_model.bin must be converted first)");
            }
        }
        if (cache.hasFile(id, commit, WEIGHTS_INDEX_FILE)) {
            Path index = cache.snapshotFile(id, commit, WEIGHTS_INDEX_FILE);
            for (String shard : shardNames(index)) {
                if (cache.hasFile(id, commit, shard)) continue;
                Fetch f = fetch(id, at, commit, shard);
                if (!f.found()) {
                    throw new HubException(WEIGHTS_INDEX_FILE + " of \"" + id + "\" lists shard " + shard
                            + ", but GET " + f.url() + " answered 404" + f.codeSuffix());
                }
            }
        }
        for (String file : OPTIONAL_FILES) {
            if (!cache.hasFile(id, commit, file)) fetchOptional(id, at, commit, file);
        }
        return cache.snapshotDir(id, commit);
    }

    /** Fetches a file the model may lack; a plain 404 is recorded in .no_exist/ and answered with false. */
    private boolean fetchOptional(HubId id, String at, String commit, String file) throws IOException {
        if (cache.isKnownMissing(id, commit, file)) return false;
        Fetch f = fetch(id, at, commit, file);
        if (f.found()) return true;
        if (f.errorCode() != null && !f.errorCode().equals("EntryNotFound")) {
            // The repository or revision vanished under us: not a fact about this file worth remembering.
            throw new HubException("GET " + f.url() + " answered 404" + f.codeSuffix() + " while downloading \""
                    + id + "\"");
        }
        cache.markMissing(id, commit, file);
        return false;
    }

    /** What a GET of one file came to: found (and now in the snapshot), or a 404. */
    private record Fetch(boolean found, URI url, String commit, boolean commitFromServer, String errorCode,
                         String errorMessage) {
        String codeSuffix() {
            return HubClient.codeSuffix(errorCode, errorMessage);
        }
    }

    /**
     * GETs one file into the snapshot of {@code knownCommit}, or, when that is null, of the commit the response
     * names. A file the snapshot already has is not read again (its body is dropped unread).
     */
    private Fetch fetch(HubId id, String at, String knownCommit, String file) throws IOException {
        URI url = fileUrl(id, at, file);
        try (Response r = get(url)) {
            int status = r.status();
            if (status == 404) return new Fetch(false, url, knownCommit, false, r.errorCode(), r.errorMessage());
            if (status == 401 || status == 403) throw accessDenied(id, url, r);
            if (status != 200) {
                throw new HubException("GET " + url + " answered HTTP " + status + codeSuffix(r)
                        + "; the Hub may be having trouble, try again later (or set HF_HUB_OFFLINE=1 to use the cache)");
            }
            String commit = knownCommit != null ? knownCommit : commitOf(r, id, url);
            Path pointer = cache.snapshotFile(id, commit, file);
            if (!Files.isRegularFile(pointer)) store(id, file, r, pointer);
            return new Fetch(true, url, commit, r.repoCommit() != null, null, null);
        }
    }

    private static String commitOf(Response r, HubId id, URI url) throws HubException {
        if (r.repoCommit() == null) return id.revision().replace("/", "--");
        if (!HubCache.isSafeSegment(r.repoCommit())) {
            throw new HubException("GET " + url + " answered X-Repo-Commit \"" + r.repoCommit()
                    + "\", which is not a commit hash");
        }
        return r.repoCommit();
    }

    /** Writes the body into the blob its etag names (or its SHA-256 when there is no etag) and links the snapshot. */
    private void store(HubId id, String file, Response r, Path pointer) throws IOException {
        String blobName = r.blobName();
        if (blobName != null) {
            Path blob = cache.blobFile(id, blobName);
            if (Files.isRegularFile(blob)) {
                cache.link(blob, pointer, false);
                return;
            }
            String expectedSha256 = r.linkedEtag() != null && SHA256_HEX.matcher(r.linkedEtag()).matches()
                    ? r.linkedEtag() : null;
            withLock(cache.lockFile(id, blobName), () -> {
                boolean fresh = !Files.isRegularFile(blob);
                if (fresh) {
                    Path incomplete = HubCache.incompleteFile(blob);
                    long bytes = receive(r, file, incomplete, expectedSha256).bytes();
                    install(incomplete, blob);
                    listener.finished(file, bytes);
                }
                cache.link(blob, pointer, fresh);
            });
        } else {
            Path incomplete = HubCache.incompleteFile(cache.repoDir(id).resolve("blobs")
                    .resolve("download-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong())));
            Received got = receive(r, file, incomplete, null);
            Path blob = cache.blobFile(id, got.sha256());
            boolean fresh = !Files.isRegularFile(blob);
            if (fresh) install(incomplete, blob);
            else Files.deleteIfExists(incomplete);
            listener.finished(file, got.bytes());
            cache.link(blob, pointer, fresh);
        }
    }

    private record Received(long bytes, String sha256) {
    }

    /**
     * Streams the body into {@code incomplete}, checks its length and hash, and forces it to disk. On any failure
     * the file is deleted before the exception leaves. A watchdog closes the body if no byte arrives for the
     * stall timeout, which a blocked read otherwise never notices.
     */
    private Received receive(Response r, String file, Path incomplete, String expectedSha256) throws IOException {
        long total = r.contentLength();
        long done = 0;
        AtomicLong lastData = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        Thread watchdog = Thread.ofVirtual().name("lora4j-download-watchdog").start(() -> {
            long limit = stallTimeout.toNanos();
            try {
                while (true) {
                    long idle = System.nanoTime() - lastData.get();
                    if (idle >= limit) {
                        stalled.set(true);
                        r.close();
                        return;
                    }
                    Thread.sleep(Duration.ofNanos(limit - idle));
                }
            } catch (InterruptedException e) {
                // The download ended first.
            }
        });
        try {
            Files.createDirectories(incomplete.getParent());
            MessageDigest sha = sha256();
            listener.started(file, total);
            try (InputStream in = r.body();
                 FileChannel out = FileChannel.open(incomplete, StandardOpenOption.CREATE,
                         StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                byte[] buffer = new byte[BUFFER_BYTES];
                for (int n; (n = in.read(buffer)) != -1; ) {
                    ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                    while (chunk.hasRemaining()) out.write(chunk);
                    sha.update(buffer, 0, n);
                    done += n;
                    lastData.set(System.nanoTime());
                    listener.progressed(file, done, total);
                }
                watchdog.interrupt();
                if (total >= 0 && done != total) {
                    throw new HubException("download of " + file + " from " + r.url() + " ended after " + done
                            + " of the " + total + " bytes the server announced; the partial file was deleted,"
                            + " run again to retry");
                }
                String actual = HexFormat.of().formatHex(sha.digest());
                if (expectedSha256 != null && !expectedSha256.equals(actual)) {
                    throw new HubException("download of " + file + " from " + r.url() + " is corrupt: its SHA-256 is "
                            + actual + " but the Hub says " + expectedSha256 + "; the file was deleted, run again"
                            + " to retry");
                }
                out.force(true);
                return new Received(done, actual);
            }
        } catch (HubException e) {
            deleteQuietly(incomplete, e);
            throw e;
        } catch (IOException e) {
            deleteQuietly(incomplete, e);
            if (stalled.get()) {
                throw new HubException("download of " + file + " from " + r.url() + " stalled: no data for "
                        + seconds(stallTimeout) + " after " + done + (total >= 0 ? " of " + total : "")
                        + " bytes; the partial file was deleted. Run again to retry", e);
            }
            throw new HubException("download of " + file + " from " + r.url() + " broke off after " + done
                    + (total >= 0 ? " of " + total : "") + " bytes (" + describe(e, r.url()) + "); the partial file was"
                    + " deleted. Run again to retry, or set HF_HUB_OFFLINE=1 to use only what is cached", e);
        } catch (RuntimeException | Error e) {
            deleteQuietly(incomplete, e);
            throw e;
        } finally {
            watchdog.interrupt();
        }
    }

    /** Renames a finished download into place, deleting it if even that fails. */
    private static void install(Path incomplete, Path blob) throws IOException {
        try {
            HubCache.moveAtomically(incomplete, blob);
        } catch (IOException | RuntimeException e) {
            deleteQuietly(incomplete, e);
            throw e;
        }
    }

    private static void deleteQuietly(Path file, Throwable failure) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }

    private interface IoAction {
        void run() throws IOException;
    }

    /** Runs the action holding the lock file, against other threads of this JVM and against other processes. */
    private static void withLock(Path lockFile, IoAction action) throws IOException {
        Files.createDirectories(lockFile.getParent());
        synchronized (JVM_LOCKS.computeIfAbsent(lockFile, k -> new Object())) {
            try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                FileLock lock = channel.lock();
                try {
                    action.run();
                } finally {
                    lock.release();
                }
            }
        }
    }

    // ---- HTTP ----

    /** A final (non-redirect) response, with the Hub's headers gathered along the redirect chain. */
    private record Response(HttpResponse<InputStream> http, URI url, String repoCommit, String linkedEtag,
                            String etag) implements Closeable {
        int status() {
            return http.statusCode();
        }

        InputStream body() {
            return http.body();
        }

        long contentLength() {
            try {
                return http.headers().firstValue("Content-Length").map(String::strip).map(Long::parseLong).orElse(-1L);
            } catch (NumberFormatException e) {
                return -1;
            }
        }

        String errorCode() {
            return http.headers().firstValue("X-Error-Code").orElse(null);
        }

        String errorMessage() {
            return http.headers().firstValue("X-Error-Message").orElse(null);
        }

        /** The blob file name: the LFS etag (X-Linked-Etag) or the ETag, when safe as a file name. */
        String blobName() {
            String name = linkedEtag != null ? linkedEtag : etag;
            return HubCache.isSafeSegment(name) ? name : null;
        }

        @Override
        public void close() {
            try {
                http.body().close();
            } catch (IOException e) {
                // Dropping an unread body: nothing to report.
            }
        }
    }

    private static String codeSuffix(Response r) {
        return codeSuffix(r.errorCode(), r.errorMessage());
    }

    /** " (Code: message)" from the Hub's X-Error-Code and X-Error-Message headers, or "" when it sent neither. */
    private static String codeSuffix(String code, String message) {
        if (code == null && message == null) return "";
        return " (" + (code == null ? "" : code) + (code != null && message != null ? ": " : "")
                + (message == null ? "" : message) + ")";
    }

    private Response get(URI url) throws IOException {
        HttpClient client = http();
        URI current = url;
        String repoCommit = null, linkedEtag = null, etag = null;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder request = HttpRequest.newBuilder(current).GET().timeout(HEADERS_TIMEOUT)
                    .header("User-Agent", USER_AGENT);
            // The token is for the Hub only: never for the CDN a large file redirects to.
            if (settings.token().isPresent() && sameOrigin(current, settings.endpoint())) {
                request.header("Authorization", "Bearer " + settings.token().get());
            }
            HttpResponse<InputStream> response;
            try {
                response = client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while requesting " + current);
            } catch (IOException e) {
                throw new HubUnreachableException("could not reach " + current + " (" + describe(e, current) + "). Check the"
                        + " network connection (and proxy), or set HF_HUB_OFFLINE=1 to use only models already in"
                        + " the cache at " + cache.root(), e);
            }
            HttpHeaders headers = response.headers();
            if (repoCommit == null) repoCommit = headers.firstValue("X-Repo-Commit").map(String::strip).orElse(null);
            if (linkedEtag == null) linkedEtag = normalizeEtag(headers.firstValue("X-Linked-Etag").orElse(null));
            if (etag == null) etag = normalizeEtag(headers.firstValue("ETag").orElse(null));
            int status = response.statusCode();
            if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) {
                return new Response(response, current, repoCommit, linkedEtag, etag);
            }
            try {
                response.body().close();
            } catch (IOException e) {
                // The redirect's body is of no interest.
            }
            String location = headers.firstValue("Location").orElse(null);
            if (location == null) throw new HubException("GET " + current + " answered " + status + " without a Location");
            if (hop == MAX_REDIRECTS) throw new HubException("GET " + url + " was redirected more than " + MAX_REDIRECTS + " times");
            URI next;
            try {
                next = current.resolve(URI.create(location));
            } catch (IllegalArgumentException e) {
                throw new HubException("GET " + current + " redirected to an unusable Location: " + location, e);
            }
            String scheme = next.getScheme() == null ? "" : next.getScheme().toLowerCase(Locale.ROOT);
            if (!scheme.equals("http") && !scheme.equals("https")) {
                throw new HubException("GET " + current + " redirected to " + next + ", which is not http(s)");
            }
            current = next;
        }
    }

    private synchronized HttpClient http() {
        if (http == null) {
            http = HttpClient.newBuilder()
                    .connectTimeout(CONNECT_TIMEOUT)
                    .followRedirects(HttpClient.Redirect.NEVER)
                    .build();
        }
        return http;
    }

    private URI fileUrl(HubId id, String revision, String file) {
        StringBuilder url = new StringBuilder(settings.endpoint().toString())
                .append('/').append(id.repo()).append("/resolve/").append(encode(revision));
        for (String part : file.split("/")) url.append('/').append(encode(part));
        return URI.create(url.toString());
    }

    private static String encode(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost() != null
                && a.getHost().equalsIgnoreCase(b.getHost()) && port(a) == port(b);
    }

    private static int port(URI u) {
        if (u.getPort() != -1) return u.getPort();
        return "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
    }

    /** An ETag without its weak marker and quotes. */
    private static String normalizeEtag(String etag) {
        if (etag == null) return null;
        String e = etag.strip();
        if (e.startsWith("W/")) e = e.substring(2);
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) e = e.substring(1, e.length() - 1);
        return e.isEmpty() ? null : e;
    }

    // ---- errors ----

    private HubException noSuchModel(HubId id, Fetch f) {
        if ("RevisionNotFound".equals(f.errorCode())) {
            return new HubException("model \"" + id.repo() + "\" has no revision \"" + id.revision() + "\": GET "
                    + f.url() + " answered 404" + f.codeSuffix());
        }
        if ("EntryNotFound".equals(f.errorCode())) {
            return new HubException("\"" + id + "\" has no " + CONFIG_FILE + " (GET " + f.url() + " answered 404"
                    + f.codeSuffix() + "): it is not a transformers model repository lora4j can load");
        }
        return new HubException("no such model \"" + id + "\" on " + settings.endpoint() + ": GET " + f.url()
                + " answered 404" + f.codeSuffix() + ". Check the id (Hub ids look like org/name, e.g."
                + " HuggingFaceTB/SmolLM2-135M)");
    }

    private HubException accessDenied(HubId id, URI url, Response r) {
        int status = r.status();
        boolean hasToken = settings.token().isPresent();
        String answered = "GET " + url + " answered " + status + codeSuffix(r);
        if (status == 403 || "GatedRepo".equals(r.errorCode())) {
            return new HubException("access to \"" + id.repo() + "\" was refused: " + answered + ". It is probably a"
                    + " gated repository: accept its conditions at " + settings.endpoint() + "/" + id.repo()
                    + " while logged in, then set HF_TOKEN to an access token of that account"
                    + (hasToken ? " (the HF_TOKEN now set has no access)" : " (no HF_TOKEN is set)"));
        }
        if (!hasToken) {
            return new HubException("no such model \"" + id + "\", or it is private or gated: " + answered
                    + ". If it exists, set HF_TOKEN to an access token that can read it"
                    + " (https://huggingface.co/settings/tokens)");
        }
        return new HubException("\"" + id + "\" was refused with the HF_TOKEN that is set: " + answered + ". The token"
                + " may be invalid or expired, or the repository may not exist or not be visible to it");
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    /**
     * What went wrong, in words: the JDK's HTTP client reports a refused connection or an unknown host as a
     * ConnectException with no message at all, so the cause chain is read for the real reason.
     */
    private static String describe(Throwable e, URI url) {
        String deepest = null;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnresolvedAddressException || t instanceof UnknownHostException) {
                return "unknown host " + url.getHost();
            }
            if (t instanceof HttpConnectTimeoutException) return "no connection within " + seconds(CONNECT_TIMEOUT);
            if (t instanceof HttpTimeoutException) return "no response within " + seconds(HEADERS_TIMEOUT);
            if (t instanceof SSLException) return "TLS failure: " + t.getMessage();
            if (t.getMessage() != null && !t.getMessage().isBlank()) deepest = t.getClass().getSimpleName() + ": " + t.getMessage();
        }
        if (deepest != null) return deepest;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectException) return "connection refused or host unreachable";
        }
        return e.getClass().getSimpleName();
    }

    // ---- helpers ----

    /** The shard files a model.safetensors.index.json names, each once, in order of first mention. */
    static List<String> shardNames(Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(index, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new HubException(index + " is not valid JSON: " + e.getOriginalMessage() + "; delete it and run"
                    + " again to download it afresh", e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new HubException(index + " has no \"weight_map\" object of tensor name -> shard file");
        }
        Set<String> shards = new LinkedHashSet<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String shard = e.getValue().isTextual() ? e.getValue().textValue() : null;
            if (!HubCache.isSafeRelativeFile(shard)) {
                throw new HubException(index + ": weight_map maps \"" + e.getKey() + "\" to " + e.getValue()
                        + ", which is not a file name inside the model");
            }
            shards.add(shard);
        }
        return List.copyOf(shards);
    }

    /** An existing directory the reference names, or null if it names nothing on disk. */
    private static Path localDirectory(String modelRef) throws ModelDirectoryException {
        Path p;
        try {
            p = Path.of(modelRef);
        } catch (InvalidPathException e) {
            return null;
        }
        if (Files.isDirectory(p)) return p;
        if (Files.exists(p)) {
            throw new ModelDirectoryException(p + " is a file, but a model is a directory (holding config.json and"
                    + " model.safetensors) or a Hub id org/name");
        }
        return null;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    private static String version() {
        String v = HubClient.class.getPackage() == null ? null : HubClient.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    /** Releases the HTTP client's threads, if one was started. */
    @Override
    public void close() {
        HttpClient client;
        synchronized (this) {
            client = http;
            http = null;
        }
        if (client != null) client.close();
    }

    @Override
    public String toString() {
        return "HubClient[" + settings + "]";
    }
}
