package dev.lora4j.io.hf;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback stand-in for huggingface.co that speaks the Hub's download scheme:
 * GET /{org}/{name}/resolve/{revision}/{file} answers the file with X-Repo-Commit, an ETag (the git blob sha1,
 * as the Hub sends for regular files) and, for *.safetensors files (LFS on the Hub), X-Linked-Etag with the
 * SHA-256. Unknown repos, revisions and files answer 404 with the Hub's X-Error-Code. Every request is recorded.
 *
 * <p>Knobs for failure tests: a repo that answers 401 or 403; truncated files, redirected to a raw socket that
 * announces the full Content-Length, sends half and closes the connection; stalled files, whose body stops
 * halfway with the connection left open; files corrupted at full length; no X-Repo-Commit header; and LFS files
 * redirected to a second "CDN" server.
 */
final class FakeHub implements AutoCloseable {
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    record Request(String server, String method, String path, String authorization) {
    }

    private final HttpServer hub;
    private HttpServer cdn;
    private ServerSocket dropper;
    final Map<String, Map<String, byte[]>> repos = new ConcurrentHashMap<>();
    final List<Request> requests = java.util.Collections.synchronizedList(new ArrayList<>());
    final Map<String, Integer> refusing = new ConcurrentHashMap<>();
    final Set<String> truncated = ConcurrentHashMap.newKeySet();
    final Set<String> stalled = ConcurrentHashMap.newKeySet();
    final Set<String> corrupted = ConcurrentHashMap.newKeySet();
    volatile boolean sendCommit = true;
    volatile boolean lfsViaCdn = false;

    FakeHub() throws IOException {
        hub = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        hub.createContext("/", this::serveHub);
        hub.start();
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + hub.getAddress().getPort());
    }

    void put(String repo, String file, byte[] content) {
        repos.computeIfAbsent(repo, k -> new ConcurrentHashMap<>()).put(file, content);
    }

    void put(String repo, String file, String content) {
        put(repo, file, content.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends *.safetensors bodies from a second server on another port, as the Hub redirects LFS files to a CDN. */
    void redirectLfsToCdn() throws IOException {
        cdn = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        cdn.createContext("/", this::serveCdn);
        cdn.start();
        lfsViaCdn = true;
    }

    List<Request> hubRequests() {
        synchronized (requests) {
            return requests.stream().filter(r -> r.server().equals("hub")).toList();
        }
    }

    List<Request> cdnRequests() {
        synchronized (requests) {
            return requests.stream().filter(r -> r.server().equals("cdn")).toList();
        }
    }

    int requestCount() {
        return requests.size();
    }

    private void serveHub(HttpExchange ex) throws IOException {
        try (ex) {
            requests.add(new Request("hub", ex.getRequestMethod(), ex.getRequestURI().getRawPath(),
                    ex.getRequestHeaders().getFirst("Authorization")));
            // /{org}/{name}/resolve/{revision}/{file...}
            String[] parts = ex.getRequestURI().getRawPath().split("/", 6);
            if (parts.length < 6 || !parts[3].equals("resolve")) {
                error(ex, 404, "RepoNotFound");
                return;
            }
            String repo = decode(parts[1]) + "/" + decode(parts[2]);
            String revision = decode(parts[4]);
            StringBuilder file = new StringBuilder();
            for (String p : parts[5].split("/")) file.append(file.isEmpty() ? "" : "/").append(decode(p));
            Map<String, byte[]> files = repos.get(repo);
            Integer refusal = refusing.get(repo);
            if (refusal != null) {
                error(ex, refusal, refusal == 403 ? "GatedRepo" : "RepoNotFound");
                return;
            }
            if (files == null) {
                error(ex, 404, "RepoNotFound");
                return;
            }
            if (!revision.equals("main") && !revision.equals(COMMIT)) {
                error(ex, 404, "RevisionNotFound");
                return;
            }
            byte[] body = files.get(file.toString());
            if (body == null) {
                error(ex, 404, "EntryNotFound");
                return;
            }
            boolean lfs = file.toString().endsWith(".safetensors");
            if (sendCommit) ex.getResponseHeaders().set("X-Repo-Commit", COMMIT);
            ex.getResponseHeaders().set("ETag", "\"" + (lfs ? sha256(body) : gitBlobSha1(body)) + "\"");
            if (lfs) ex.getResponseHeaders().set("X-Linked-Etag", "\"" + sha256(body) + "\"");
            if (truncated.contains(file.toString())) {
                ex.getResponseHeaders().set("Location", "http://127.0.0.1:" + dropper().getLocalPort() + "/drop/"
                        + repo + "/" + file);
                ex.sendResponseHeaders(302, -1);
                return;
            }
            if (lfs && lfsViaCdn) {
                ex.getResponseHeaders().set("Location", "http://127.0.0.1:" + cdn.getAddress().getPort() + "/cdn/"
                        + repo + "/" + file + "?signature=abc");
                ex.sendResponseHeaders(302, -1);
                return;
            }
            send(ex, file.toString(), body);
        }
    }

    private void serveCdn(HttpExchange ex) throws IOException {
        try (ex) {
            requests.add(new Request("cdn", ex.getRequestMethod(), ex.getRequestURI().getRawPath(),
                    ex.getRequestHeaders().getFirst("Authorization")));
            String path = ex.getRequestURI().getPath().substring("/cdn/".length());
            String[] parts = path.split("/", 3);
            byte[] body = repos.getOrDefault(parts[0] + "/" + parts[1], Map.of()).get(parts[2]);
            if (body == null) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            ex.getResponseHeaders().set("ETag", "\"cdn-" + sha256(body).substring(0, 8) + "\"");
            send(ex, parts[2], body);
        }
    }

    private void send(HttpExchange ex, String file, byte[] body) throws IOException {
        if (corrupted.contains(file)) {
            body = body.clone();
            body[body.length - 1] ^= 0x55;
        }
        ex.sendResponseHeaders(200, body.length);
        OutputStream out = ex.getResponseBody();
        if (stalled.contains(file)) {
            // Half the announced bytes; then nothing, and this server keeps the connection open.
            out.write(body, 0, body.length / 2);
            out.flush();
            try {
                out.close();
            } catch (IOException expected) {
                // "insufficient bytes written to stream".
            }
            return;
        }
        out.write(body);
    }

    /** A bare HTTP/1.1 server that answers one file with its full Content-Length, half the bytes, and a close. */
    private synchronized ServerSocket dropper() throws IOException {
        if (dropper != null) return dropper;
        dropper = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("fake-hub-dropper").start(() -> {
            while (!dropper.isClosed()) {
                try (Socket socket = dropper.accept()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
                    String requestLine = in.readLine();
                    for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                        // Headers are not needed.
                    }
                    String path = requestLine.split(" ")[1];
                    requests.add(new Request("drop", "GET", path, null));
                    String[] parts = path.substring("/drop/".length()).split("/", 3);
                    byte[] body = repos.get(parts[0] + "/" + parts[1]).get(parts[2]);
                    OutputStream out = socket.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\nContent-Type: application/octet-stream"
                            + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    out.write(body, 0, body.length / 2);
                    out.flush();
                } catch (IOException e) {
                    // Closed by close(), or a client that went away: either way, on to the next.
                }
            }
        });
        return dropper;
    }

    private static void error(HttpExchange ex, int status, String code) throws IOException {
        ex.getResponseHeaders().set("X-Error-Code", code);
        ex.getResponseHeaders().set("X-Error-Message", code + " (fake hub)");
        ex.sendResponseHeaders(status, -1);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static String gitBlobSha1(byte[] data) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(("blob " + data.length + "\0").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(sha1.digest(data));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        hub.stop(0);
        if (cdn != null) cdn.stop(0);
        if (dropper != null) {
            try {
                dropper.close();
            } catch (IOException e) {
                // Test teardown.
            }
        }
    }
}
