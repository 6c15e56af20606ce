package dev.lora4j.io.hf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * The Hugging Face hub cache on disk, laid out exactly as huggingface_hub lays it out, so a model downloaded by
 * either side is found by the other:
 * <pre>
 * &lt;root&gt;/models--org--name/
 *     refs/&lt;revision&gt;                 the commit hash the revision (branch, tag) pointed at
 *     blobs/&lt;etag&gt;                    file contents, named by the Hub's etag (the sha256 of LFS files)
 *     blobs/&lt;etag&gt;.incomplete         a download in progress; never read as a blob
 *     snapshots/&lt;commit&gt;/&lt;file&gt;      a relative symlink ../../blobs/&lt;etag&gt; (a plain file where links fail)
 *     .no_exist/&lt;commit&gt;/&lt;file&gt;      an empty marker: the Hub has no such file at that commit
 * &lt;root&gt;/.locks/models--org--name/&lt;etag&gt;.lock   held while a blob is written
 * </pre>
 * This class knows the layout only; what a model needs, and the network, are {@link HubClient}'s business.
 */
public final class HubCache {
    /** Names the server may choose (a commit, an etag) that are safe as one path segment. */
    private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

    private final Path root;

    public HubCache(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    /** models--org--name. */
    public Path repoDir(HubId id) {
        return root.resolve(id.cacheFolderName());
    }

    public Path refFile(HubId id) {
        return repoDir(id).resolve("refs").resolve(id.revision());
    }

    /**
     * The commit the revision names in the cache: the revision itself if it is a commit hash, else the content
     * of refs/&lt;revision&gt;, else empty.
     */
    public Optional<String> commitOf(HubId id) throws IOException {
        if (HubId.isCommitHash(id.revision())) return Optional.of(id.revision());
        Path ref = refFile(id);
        if (!Files.isRegularFile(ref)) return Optional.empty();
        String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
        if (!isSafeSegment(commit)) {
            throw new HubException(ref + " should hold a commit hash but holds \"" + commit
                    + "\"; delete it and the model will be fetched again");
        }
        return Optional.of(commit);
    }

    /** Records that the revision points at the commit (nothing is written for a revision that is the commit). */
    public void writeRef(HubId id, String commit) throws IOException {
        if (id.revision().equals(commit) && HubId.isCommitHash(commit)) return;
        Path ref = refFile(id);
        Files.createDirectories(ref.getParent());
        Path temp = ref.resolveSibling(ref.getFileName() + "." + randomHex() + ".tmp");
        try {
            Files.writeString(temp, commit, StandardCharsets.UTF_8);
            moveAtomically(temp, ref);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    public Path snapshotDir(HubId id, String commit) {
        return repoDir(id).resolve("snapshots").resolve(requireSegment(commit, "commit"));
    }

    /** A file of a snapshot; {@code file} is a relative path such as "config.json" or "sub/model.safetensors". */
    public Path snapshotFile(HubId id, String commit, String file) {
        return snapshotDir(id, commit).resolve(requireRelativeFile(file));
    }

    public Path blobFile(HubId id, String etag) {
        return repoDir(id).resolve("blobs").resolve(requireSegment(etag, "etag"));
    }

    /** Where a blob is written while it downloads. */
    public static Path incompleteFile(Path blob) {
        return blob.resolveSibling(blob.getFileName() + ".incomplete");
    }

    public Path lockFile(HubId id, String etag) {
        return root.resolve(".locks").resolve(id.cacheFolderName()).resolve(requireSegment(etag, "etag") + ".lock");
    }

    /** Whether the snapshot holds the file, following the link to its blob (a dangling link is no file). */
    public boolean hasFile(HubId id, String commit, String file) {
        return Files.isRegularFile(snapshotFile(id, commit, file));
    }

    public Path noExistMarker(HubId id, String commit, String file) {
        return repoDir(id).resolve(".no_exist").resolve(requireSegment(commit, "commit")).resolve(requireRelativeFile(file));
    }

    /** Whether an earlier look-up (ours or Python's) found that the Hub has no such file at this commit. */
    public boolean isKnownMissing(HubId id, String commit, String file) {
        return Files.exists(noExistMarker(id, commit, file));
    }

    public void markMissing(HubId id, String commit, String file) throws IOException {
        Path marker = noExistMarker(id, commit, file);
        Files.createDirectories(marker.getParent());
        try {
            Files.createFile(marker);
        } catch (FileAlreadyExistsException e) {
            // Already known.
        }
    }

    /**
     * Points a snapshot file at its blob with a relative symlink, as huggingface_hub does. Where the file system
     * refuses symlinks, a new blob is moved into the snapshot and an old one copied (huggingface_hub's fallback).
     */
    public void link(Path blob, Path snapshotFile, boolean newBlob) throws IOException {
        Files.createDirectories(snapshotFile.getParent());
        Path target = snapshotFile.getParent().relativize(blob);
        Path temp = snapshotFile.resolveSibling("." + snapshotFile.getFileName() + "." + randomHex() + ".tmp");
        try {
            try {
                Files.createSymbolicLink(temp, target);
            } catch (UnsupportedOperationException | FileSystemException e) {
                Files.deleteIfExists(temp);
                if (newBlob) Files.move(blob, temp);
                else Files.copy(blob, temp);
            }
            moveAtomically(temp, snapshotFile);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /** Renames over the target atomically where the file system can, else with a plain replacing move. */
    static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static boolean isSafeSegment(String s) {
        return s != null && SEGMENT.matcher(s).matches();
    }

    /** A relative path inside a snapshot: no leading '/', no backslash, no empty, "." or ".." segment. */
    static boolean isSafeRelativeFile(String file) {
        if (file == null || file.isEmpty() || file.startsWith("/") || file.indexOf('\\') >= 0 || file.indexOf(':') >= 0
                || file.indexOf('\0') >= 0) {
            return false;
        }
        for (String part : file.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) return false;
        }
        return true;
    }

    private static String requireSegment(String s, String what) {
        if (!isSafeSegment(s)) throw new IllegalArgumentException("unusable " + what + " \"" + s + "\" for a cache path");
        return s;
    }

    private static String requireRelativeFile(String file) {
        if (!isSafeRelativeFile(file)) {
            throw new IllegalArgumentException("\"" + file + "\" is not a relative file path inside a snapshot");
        }
        return file;
    }

    private static String randomHex() {
        return HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
    }

    @Override
    public String toString() {
        return "HubCache[" + root + "]";
    }
}
