package dev.lora4j.io.hf;

import dev.lora4j.io.safetensors.SafetensorsWriter;
import dev.lora4j.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubClientTest {
    private static final String REPO = "test-org/tiny-llama";
    private static final String CONFIG = "{\"model_type\": \"llama\", \"hidden_size\": 4, \"vocab_size\": 3}";
    private static final String TOKENIZER = "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}";

    @TempDir
    Path tmp;
    private FakeHub hub;
    private Path cacheRoot;
    private byte[] weights;

    @BeforeEach
    void startHub() throws IOException {
        hub = new FakeHub();
        cacheRoot = tmp.resolve("hf-home").resolve("hub");
        Path w = tmp.resolve("model.safetensors");
        SafetensorsWriter.write(w, Map.of(
                "model.embed_tokens.weight", Tensor.of(new float[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3, 4),
                "model.norm.weight", Tensor.of(new float[]{0.5f, 1, 1.5f, 2}, 4)), Map.of());
        weights = Files.readAllBytes(w);
        hub.put(REPO, "config.json", CONFIG);
        hub.put(REPO, "model.safetensors", weights);
        hub.put(REPO, "tokenizer.json", TOKENIZER);
        hub.put(REPO, "tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    /** An environment with HF_HOME in the temp dir, so neither the real cache nor a real token file is seen. */
    private Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("HF_HOME", tmp.resolve("hf-home").toString());
        env.put("HF_ENDPOINT", hub.endpoint().toString());
        for (int i = 0; i < pairs.length; i += 2) env.put(pairs[i], pairs[i + 1]);
        return env;
    }

    private HubClient client(Map<String, String> env) {
        return new HubClient(HubSettings.fromEnvironment(env, tmp.resolve("home")));
    }

    private Path resolve(String ref, Map<String, String> env) throws IOException {
        try (HubClient c = client(env)) {
            return c.resolve(ref);
        }
    }

    private Path repoDir() {
        return cacheRoot.resolve("models--test-org--tiny-llama");
    }

    private static List<Path> filesUnder(Path dir) throws IOException {
        if (!Files.exists(dir)) return List.of();
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !Files.isDirectory(p)).sorted().toList();
        }
    }

    @Test
    void firstResolveDownloadsIntoTheHuggingFaceCacheLayout() throws Exception {
        Path snapshot = resolve(REPO, env());

        Path repo = repoDir();
        assertEquals(repo.resolve("snapshots").resolve(FakeHub.COMMIT), snapshot);
        assertEquals(FakeHub.COMMIT, Files.readString(repo.resolve("refs/main")), "refs/main holds the commit, no newline");

        Path config = snapshot.resolve("config.json");
        assertTrue(Files.isSymbolicLink(config), "snapshot files are symlinks into blobs/, as huggingface_hub makes them");
        String configBlob = FakeHub.gitBlobSha1(CONFIG.getBytes(StandardCharsets.UTF_8));
        assertEquals(Path.of("../../blobs/" + configBlob), Files.readSymbolicLink(config), "relative link");
        assertEquals(CONFIG, Files.readString(config));
        assertEquals(CONFIG, Files.readString(repo.resolve("blobs").resolve(configBlob)));

        // The LFS file's blob is named by its SHA-256 (X-Linked-Etag), and holds exactly the served bytes.
        Path weightsBlob = repo.resolve("blobs").resolve(FakeHub.sha256(weights));
        assertArrayEquals(weights, Files.readAllBytes(weightsBlob));
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
        assertEquals(TOKENIZER, Files.readString(snapshot.resolve("tokenizer.json")));
        assertTrue(Files.exists(snapshot.resolve("tokenizer_config.json")));

        // Optional files the hub lacks are remembered as huggingface_hub remembers them.
        for (String absent : List.of("special_tokens_map.json", "generation_config.json", "chat_template.jinja")) {
            assertTrue(Files.isRegularFile(repo.resolve(".no_exist").resolve(FakeHub.COMMIT).resolve(absent)), absent);
            assertFalse(Files.exists(snapshot.resolve(absent)), absent);
        }
        assertEquals(4, filesUnder(repo.resolve("blobs")).size(), "config, weights, tokenizer, tokenizer_config");
        assertTrue(filesUnder(cacheRoot).stream().noneMatch(p -> p.toString().endsWith(".incomplete")));

        // Config first at the user's revision, everything else at the commit it named.
        List<FakeHub.Request> requests = hub.hubRequests();
        assertEquals("/test-org/tiny-llama/resolve/main/config.json", requests.getFirst().path());
        assertTrue(requests.stream().skip(1).allMatch(r -> r.path().contains("/resolve/" + FakeHub.COMMIT + "/")), requests::toString);
        assertTrue(requests.stream().allMatch(r -> r.method().equals("GET")));

        // And what came down is a model directory the loader reads.
        HfModelDirectory model = HfModelDirectory.open(snapshot);
        assertEquals("llama", model.modelType());
        Map<String, Tensor> tensors = model.loadTensors();
        assertEquals(List.of("model.embed_tokens.weight", "model.norm.weight"), new ArrayList<>(tensors.keySet()));
        assertArrayEquals(new float[]{0.5f, 1, 1.5f, 2}, tensors.get("model.norm.weight").data());
        assertEquals(List.of(snapshot.resolve("tokenizer.json"), snapshot.resolve("tokenizer_config.json")),
                model.tokenizerFiles());
    }

    @Test
    void secondResolveIsServedFromTheCacheWithoutAnyRequest() throws Exception {
        Path first = resolve(REPO, env());
        int afterFirst = hub.requestCount();
        assertEquals(7, afterFirst, "config, weights, 5 optional files, no retries: " + hub.requests);

        Path second = resolve(REPO, env());
        assertEquals(first, second);
        assertEquals(afterFirst, hub.requestCount(), "a complete snapshot needs no network");

        // Asking for updates re-checks with one request (the commit is unchanged, so nothing is downloaded again).
        try (HubClient c = client(env())) {
            assertEquals(first, c.resolve(REPO, true));
        }
        assertEquals(afterFirst + 1, hub.requestCount(), hub.requests::toString);
    }

    @Test
    void offlineWithAWarmCacheMakesNoRequest() throws Exception {
        Path online = resolve(REPO, env());
        int before = hub.requestCount();
        // Even with an unreachable endpoint: offline must not try.
        Path offline = resolve(REPO, env("HF_HUB_OFFLINE", "1", "HF_ENDPOINT", "http://127.0.0.1:1"));
        assertEquals(online, offline);
        assertEquals(before, hub.requestCount());
        assertEquals("llama", HfModelDirectory.open(offline).modelType());
    }

    @Test
    void offlineWithAColdCacheSaysTheModelIsNotCached() {
        HubException e = assertThrows(HubException.class, () -> resolve(REPO, env("HF_HUB_OFFLINE", "true")));
        assertTrue(e.getMessage().contains("\"" + REPO + "\" is not in the Hugging Face cache at " + repoDir()), e.getMessage());
        assertTrue(e.getMessage().contains("offline mode is on (HF_HUB_OFFLINE=1)"), e.getMessage());
        assertEquals(0, hub.requestCount());
    }

    @Test
    void offlineWithAnIncompleteSnapshotNamesWhatIsMissing() throws Exception {
        Path snapshot = resolve(REPO, env());
        Files.delete(snapshot.resolve("model.safetensors"));
        HubException e = assertThrows(HubException.class, () -> resolve(REPO, env("HF_HUB_OFFLINE", "1")));
        assertTrue(e.getMessage().contains("incomplete") && e.getMessage().contains("model.safetensors"), e.getMessage());

        // Online, only the missing file is fetched again (config.json to learn the commit, then the weights).
        int before = hub.requestCount();
        assertEquals(snapshot, resolve(REPO, env()));
        assertEquals(before + 2, hub.requestCount(), hub.requests::toString);
        assertTrue(Files.isSymbolicLink(snapshot.resolve("model.safetensors")), "re-linked to the blob that was still there");
    }

    @Test
    void hfTokenIsSentAsBearerToTheHubButNotToTheCdn() throws Exception {
        hub.redirectLfsToCdn();
        Path snapshot = resolve(REPO, env("HF_TOKEN", "hf_secret123"));

        assertFalse(hub.hubRequests().isEmpty());
        for (FakeHub.Request r : hub.hubRequests()) assertEquals("Bearer hf_secret123", r.authorization(), r.path());
        assertEquals(1, hub.cdnRequests().size(), "model.safetensors came from the CDN");
        assertNull(hub.cdnRequests().getFirst().authorization(), "the token must not leak to another origin");
        // The blob is named by the Hub's X-Linked-Etag, not the CDN's ETag.
        assertArrayEquals(weights, Files.readAllBytes(repoDir().resolve("blobs").resolve(FakeHub.sha256(weights))));
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
    }

    @Test
    void noTokenMeansNoAuthorizationHeaderAndTheTokenFileIsRead() throws Exception {
        resolve(REPO, env());
        assertTrue(hub.requests.stream().allMatch(r -> r.authorization() == null));

        hub.requests.clear();
        Files.writeString(tmp.resolve("hf-home").resolve("token"), "hf_fromfile\n");
        try (HubClient c = client(env())) {
            c.resolve(REPO, true);
        }
        assertEquals("Bearer hf_fromfile", hub.requests.getFirst().authorization());
    }

    @Test
    void aTruncatedDownloadLeavesNeitherACompleteNorAnIncompleteFile() throws Exception {
        hub.truncated.add("model.safetensors");
        HubException e = assertThrows(HubException.class, () -> resolve(REPO, env()));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("deleted"), e.getMessage());
        assertEquals(1, hub.requests.stream().filter(r -> r.server().equals("drop")).count(), "the body came from the dropper");

        Path snapshot = repoDir().resolve("snapshots").resolve(FakeHub.COMMIT);
        assertFalse(Files.exists(snapshot.resolve("model.safetensors"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(repoDir().resolve("blobs").resolve(FakeHub.sha256(weights))));
        List<Path> left = filesUnder(cacheRoot);
        assertTrue(left.stream().noneMatch(p -> p.toString().endsWith(".incomplete")), () -> "left behind: " + left);
        // Offline now is an error, not a half model.
        assertThrows(HubException.class, () -> resolve(REPO, env("HF_HUB_OFFLINE", "1")));

        // A good server afterwards completes the snapshot.
        hub.truncated.clear();
        Path again = resolve(REPO, env());
        assertArrayEquals(weights, Files.readAllBytes(again.resolve("model.safetensors")));
    }

    @Test
    void aStalledDownloadIsAbandonedAndLeavesNothingBehind() throws Exception {
        hub.stalled.add("model.safetensors");
        long start = System.nanoTime();
        try (HubClient c = new HubClient(HubSettings.fromEnvironment(env(), tmp.resolve("home")), DownloadListener.NONE,
                Duration.ofMillis(300))) {
            HubException e = assertThrows(HubException.class, () -> c.resolve(REPO));
            assertTrue(e.getMessage().contains("stalled") && e.getMessage().contains("model.safetensors"), e.getMessage());
        }
        assertTrue(System.nanoTime() - start < 10_000_000_000L, "the watchdog, not a TCP timeout, ended it");
        assertFalse(Files.exists(repoDir().resolve("blobs").resolve(FakeHub.sha256(weights))));
        assertFalse(Files.exists(repoDir().resolve("snapshots").resolve(FakeHub.COMMIT).resolve("model.safetensors"),
                java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertTrue(filesUnder(cacheRoot).stream().noneMatch(p -> p.toString().endsWith(".incomplete")));
    }

    @Test
    void aCorruptDownloadFailsItsSha256AndIsDeleted() throws Exception {
        hub.corrupted.add("model.safetensors");
        HubException e = assertThrows(HubException.class, () -> resolve(REPO, env()));
        assertTrue(e.getMessage().contains("corrupt") && e.getMessage().contains("SHA-256"), e.getMessage());
        assertFalse(Files.exists(repoDir().resolve("blobs").resolve(FakeHub.sha256(weights))));
        assertTrue(filesUnder(cacheRoot).stream().noneMatch(p -> p.toString().endsWith(".incomplete")));
    }

    @Test
    void missingConfigMeansNoSuchModel() {
        HubException e = assertThrows(HubException.class, () -> resolve("nobody/nothing", env()));
        assertTrue(e.getMessage().startsWith("no such model \"nobody/nothing\""), e.getMessage());
        assertTrue(e.getMessage().contains("404"), e.getMessage());
        assertFalse(Files.exists(cacheRoot.resolve("models--nobody--nothing").resolve("refs")));
    }

    @Test
    void unknownRevisionAndRepoWithoutConfigAreToldApart() {
        HubException rev = assertThrows(HubException.class, () -> resolve(REPO + "@v9", env()));
        assertTrue(rev.getMessage().contains("has no revision \"v9\""), rev.getMessage());

        hub.put("test-org/datasetish", "README.md", "hello");
        HubException noConfig = assertThrows(HubException.class, () -> resolve("test-org/datasetish", env()));
        assertTrue(noConfig.getMessage().contains("has no config.json"), noConfig.getMessage());
    }

    @Test
    void aRepoWithoutSafetensorsWeightsIsAClearError() {
        hub.repos.get(REPO).remove("model.safetensors");
        hub.put(REPO, "pytorch_model.bin", "not read");
        HubException e = assertThrows(HubException.class, () -> resolve(REPO, env()));
        assertTrue(e.getMessage().contains("neither model.safetensors nor model.safetensors.index.json"), e.getMessage());
    }

    @Test
    void unauthorizedAndGatedRepositoriesMentionHfToken() {
        hub.refusing.put(REPO, 401);
        HubException e401 = assertThrows(HubException.class, () -> resolve(REPO, env()));
        assertTrue(e401.getMessage().contains("private or gated") && e401.getMessage().contains("HF_TOKEN"), e401.getMessage());

        HubException withToken = assertThrows(HubException.class, () -> resolve(REPO, env("HF_TOKEN", "hf_bad")));
        assertTrue(withToken.getMessage().contains("refused with the HF_TOKEN"), withToken.getMessage());

        hub.refusing.put(REPO, 403);
        HubException e403 = assertThrows(HubException.class, () -> resolve(REPO, env()));
        assertTrue(e403.getMessage().contains("gated repository") && e403.getMessage().contains("HF_TOKEN"), e403.getMessage());
    }

    @Test
    void anUnreachableHubNamesTheUrlAndSuggestsOfflineMode() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String endpoint = "http://127.0.0.1:" + port;
        HubException e = assertThrows(HubUnreachableException.class, () -> resolve(REPO, env("HF_ENDPOINT", endpoint)));
        assertTrue(e.getMessage().contains(endpoint + "/test-org/tiny-llama/resolve/main/config.json"), e.getMessage());
        assertTrue(e.getMessage().contains("HF_HUB_OFFLINE=1"), e.getMessage());
    }

    @Test
    void aCachedModelIsUsedWhenTheHubCannotBeReachedWhileCheckingForUpdates() throws Exception {
        Path snapshot = resolve(REPO, env());
        try (HubClient c = client(env("HF_ENDPOINT", "http://127.0.0.1:1"))) {
            assertEquals(snapshot, c.resolve(REPO, true));
        }
    }

    @Test
    void aShardedModelDownloadsTheIndexAndEveryShard() throws Exception {
        String repo = "test-org/sharded";
        Path src = tmp.resolve("src");
        Files.createDirectories(src);
        SafetensorsWriter.write(src.resolve("model-00001-of-00002.safetensors"),
                Map.of("a.weight", Tensor.of(new float[]{1, 2}, 2)), Map.of());
        SafetensorsWriter.write(src.resolve("model-00002-of-00002.safetensors"),
                Map.of("b.weight", Tensor.of(new float[]{3, 4, 5}, 3), "c.weight", Tensor.of(new float[]{6}, 1)), Map.of());
        hub.put(repo, "config.json", CONFIG);
        hub.put(repo, "model.safetensors.index.json", "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
                + "\"a.weight\": \"model-00001-of-00002.safetensors\","
                + "\"b.weight\": \"model-00002-of-00002.safetensors\","
                + "\"c.weight\": \"model-00002-of-00002.safetensors\"}}");
        for (String shard : List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")) {
            hub.put(repo, shard, Files.readAllBytes(src.resolve(shard)));
        }

        Path snapshot = resolve(repo, env());
        assertTrue(Files.isRegularFile(snapshot.resolve("model-00001-of-00002.safetensors")));
        assertTrue(Files.isRegularFile(snapshot.resolve("model-00002-of-00002.safetensors")));
        assertEquals(1, hub.hubRequests().stream().filter(r -> r.path().endsWith("/model-00002-of-00002.safetensors")).count());
        assertTrue(Files.exists(cacheRoot.resolve("models--test-org--sharded/.no_exist").resolve(FakeHub.COMMIT)
                .resolve("model.safetensors")), "the 404 for the single file is remembered");

        Map<String, Tensor> tensors = HfModelDirectory.open(snapshot).loadTensors();
        assertEquals(List.of("a.weight", "b.weight", "c.weight"), new ArrayList<>(tensors.keySet()));
        assertArrayEquals(new float[]{3, 4, 5}, tensors.get("b.weight").data());

        int before = hub.requestCount();
        assertEquals(snapshot, resolve(repo, env()));
        assertEquals(before, hub.requestCount(), "the sharded snapshot is complete too");
    }

    @Test
    void withoutXRepoCommitTheRevisionNamesTheSnapshot() throws Exception {
        hub.sendCommit = false;
        Path snapshot = resolve(REPO, env());
        assertEquals(repoDir().resolve("snapshots/main"), snapshot);
        assertEquals("main", Files.readString(repoDir().resolve("refs/main")));
        int before = hub.requestCount();
        assertEquals(snapshot, resolve(REPO, env("HF_HUB_OFFLINE", "1")));
        assertEquals(before, hub.requestCount());
    }

    @Test
    void aCommitHashRevisionNeedsNoRefFile() throws Exception {
        Path snapshot = resolve(REPO + "@" + FakeHub.COMMIT, env());
        assertEquals(repoDir().resolve("snapshots").resolve(FakeHub.COMMIT), snapshot);
        assertFalse(Files.exists(repoDir().resolve("refs")));
        assertTrue(hub.requests.stream().allMatch(r -> r.path().contains("/resolve/" + FakeHub.COMMIT + "/")));
        assertEquals(snapshot, resolve(REPO + "@" + FakeHub.COMMIT, env("HF_HUB_OFFLINE", "1")));
    }

    @Test
    void aLocalDirectoryIsReturnedAsIsWithoutTouchingTheNetwork() throws Exception {
        Path dir = tmp.resolve("test-org").resolve("tiny-llama");
        Files.createDirectories(dir);
        assertEquals(dir, resolve(dir.toString(), env()));
        assertEquals(0, hub.requestCount());
    }

    @Test
    void referencesThatAreNeitherDirectoryNorHubIdAreRejected() throws Exception {
        HubException e = assertThrows(HubException.class, () -> resolve(tmp.resolve("missing/dir/x").toString(), env()));
        assertTrue(e.getMessage().contains("no such model directory"), e.getMessage());
        Path file = Files.writeString(tmp.resolve("file.txt"), "x");
        assertThrows(ModelDirectoryException.class, () -> resolve(file.toString(), env()));
        assertThrows(HubException.class, () -> resolve("a--b/c", env()));
        assertEquals(0, hub.requestCount());
    }

    @Test
    void progressIsReportedWithTheTotalSize() throws Exception {
        List<String> events = new ArrayList<>();
        DownloadListener listener = new DownloadListener() {
            @Override
            public void started(String file, long totalBytes) {
                events.add("start " + file + " " + totalBytes);
            }

            @Override
            public void finished(String file, long bytes) {
                events.add("done " + file + " " + bytes);
            }
        };
        try (HubClient c = new HubClient(HubSettings.fromEnvironment(env(), tmp.resolve("home")), listener)) {
            c.resolve(REPO);
        }
        assertTrue(events.contains("start model.safetensors " + weights.length), events::toString);
        assertTrue(events.contains("done model.safetensors " + weights.length), events::toString);
    }

    @Test
    void settingsFollowHuggingfaceHubPrecedence() {
        Path home = Path.of("/home/someone");
        HubSettings defaults = HubSettings.fromEnvironment(Map.of(), home);
        assertEquals(home.resolve(".cache/huggingface/hub"), defaults.cacheDir());
        assertEquals("https://huggingface.co", defaults.endpoint().toString());
        assertFalse(defaults.offline());

        assertEquals(Path.of("/x/huggingface/hub"), HubSettings.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x"), home).cacheDir());
        assertEquals(Path.of("/h/hub"), HubSettings.fromEnvironment(Map.of("HF_HOME", "/h", "XDG_CACHE_HOME", "/x"), home).cacheDir());
        assertEquals(Path.of("/c"), HubSettings.fromEnvironment(Map.of("HF_HUB_CACHE", "/c", "HF_HOME", "/h"), home).cacheDir());
        assertEquals(home.resolve("hf/hub"), HubSettings.fromEnvironment(Map.of("HF_HOME", "~/hf"), home).cacheDir());
        assertEquals("https://mirror.example/hf",
                HubSettings.fromEnvironment(Map.of("HF_ENDPOINT", "https://mirror.example/hf/"), home).endpoint().toString());
        assertTrue(HubSettings.fromEnvironment(Map.of("HF_HUB_OFFLINE", "yes"), home).offline());
        assertFalse(HubSettings.fromEnvironment(Map.of("HF_HUB_OFFLINE", "0"), home).offline());
        HubSettings withToken = HubSettings.fromEnvironment(Map.of("HF_TOKEN", "hf_abc"), home);
        assertEquals("hf_abc", withToken.token().orElseThrow());
        assertFalse(withToken.toString().contains("hf_abc"), "the token is never printed");
        assertThrows(IllegalArgumentException.class, () -> HubSettings.fromEnvironment(Map.of("HF_ENDPOINT", "ftp://x"), home));
    }

    @Test
    void hubIdsParseLikeHuggingfaceHub() {
        assertEquals(new HubId("HuggingFaceTB/SmolLM2-135M", "main"), HubId.parse("HuggingFaceTB/SmolLM2-135M"));
        assertEquals(new HubId("Qwen/Qwen2.5-0.5B", "refs/pr/1"), HubId.parse("Qwen/Qwen2.5-0.5B@refs/pr/1"));
        assertEquals("models--Qwen--Qwen2.5-0.5B", HubId.parse("Qwen/Qwen2.5-0.5B").cacheFolderName());
        for (String bad : List.of("gpt2", "a/b/c", "a--b/c", "a/b..c", "/a/b", "a/b@", "a/b@../x", "a/ b")) {
            assertFalse(HubId.isHubId(bad), bad);
        }
    }
}
