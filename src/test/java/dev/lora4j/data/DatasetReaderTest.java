package dev.lora4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetReaderTest {
    @TempDir
    Path dir;

    private Path write(String name, String... lines) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, String.join("\n", lines) + "\n");
        return p;
    }

    private DatasetException fails(Path p) {
        return assertThrows(DatasetException.class, () -> DatasetReader.read(p));
    }

    private static void assertContains(String message, String... parts) {
        for (String part : parts) assertTrue(message.contains(part), () -> "'" + part + "' not in: " + message);
    }

    @Test
    void readsEveryJsonlFormat() throws IOException {
        assertEquals(List.of(new Record.Text("hello"), new Record.Text("world")),
                DatasetReader.read(write("t.jsonl", "{\"text\": \"hello\"}", "", "  ", "{\"text\": \"world\", \"extra\": 1}")));
        assertEquals(List.of(new Record.PromptCompletion("Q: 1+1?", " 2")),
                DatasetReader.read(write("pc.jsonl", "{\"prompt\": \"Q: 1+1?\", \"completion\": \" 2\"}")));
        assertEquals(List.of(new Record.Chat(List.of(new ChatMessage("system", "be brief"), new ChatMessage("user", "hi"),
                        new ChatMessage("assistant", "hello")))),
                DatasetReader.read(write("chat.jsonl", "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, "
                        + "{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}")));
        assertEquals(List.of(new Record.Classification("good", "pos"), new Record.Classification("bad", "3")),
                DatasetReader.read(write("cls.jsonl", "{\"text\": \"good\", \"label\": \"pos\"}", "{\"text\": \"bad\", \"label\": 3}")));
        assertEquals(List.of(new Record.Pair("a", "p", null), new Record.Pair("a2", "p2", "n2")),
                DatasetReader.read(write("pair.jsonl", "{\"anchor\": \"a\", \"positive\": \"p\"}",
                        "{\"anchor\": \"a2\", \"positive\": \"p2\", \"negative\": \"n2\"}")));
    }

    @Test
    void crlfAndBomAreAccepted() throws IOException {
        Path p = dir.resolve("w.jsonl");
        Files.writeString(p, "\uFEFF{\"text\": \"a\"}\r\n{\"text\": \"b\"}\r\n");
        assertEquals(List.of(new Record.Text("a"), new Record.Text("b")), DatasetReader.read(p));
    }

    @Test
    void csvWithQuotesCommasAndNewlines() throws IOException {
        Path p = dir.resolve("train.csv");
        Files.writeString(p, "text,label\r\n"
                + "plain,pos\r\n"
                + "\"with, comma\",neg\r\n"
                + "\"say \"\"hi\"\"\",pos\n"
                + "\"two\nlines\",neg\n"
                + "\n"
                + "\"\",pos");
        assertEquals(List.of(new Record.Classification("plain", "pos"), new Record.Classification("with, comma", "neg"),
                new Record.Classification("say \"hi\"", "pos"), new Record.Classification("two\nlines", "neg"),
                new Record.Classification("", "pos")), DatasetReader.read(p));

        Files.writeString(p, "prompt,completion\nq,a\n");
        assertEquals(List.of(new Record.PromptCompletion("q", "a")), DatasetReader.read(p));
        Files.writeString(p, "anchor,positive,negative\nx,y,\nx2,y2,z2\n");
        assertEquals(List.of(new Record.Pair("x", "y", null), new Record.Pair("x2", "y2", "z2")), DatasetReader.read(p));
        Files.writeString(p, "text\nsome text\n");
        assertEquals(List.of(new Record.Text("some text")), DatasetReader.read(p));
    }

    @Test
    void csvErrorsNameFileAndLine() throws IOException {
        Path p = dir.resolve("d.csv");
        // The quoted field on line 2 spans two lines, and ok,y is line 4, so the bad row is line 5.
        Files.writeString(p, "text,label\n\"a\nb\",x\nok,y\nthree,fields,here\n");
        assertContains(fails(p).getMessage(), "d.csv:5:", "expected 2 fields", "found 3");
        Files.writeString(p, "text,label\nok,y\n\"never closed,x\n");
        assertContains(fails(p).getMessage(), "d.csv:3:", "never closed");
        Files.writeString(p, "foo,bar\n1,2\n");
        assertContains(fails(p).getMessage(), "d.csv:1:", "header", "[foo, bar]");
    }

    @Test
    void jsonErrorsNameFileAndLine() throws IOException {
        assertContains(fails(write("train.jsonl", "{\"text\": \"a\"}", "", "{\"text\": \"b\"")).getMessage(), "train.jsonl:3:", "invalid JSON");
        assertContains(fails(write("train.jsonl", "{\"text\": \"a\"}", "{\"foo\": 1, \"bar\": 2}")).getMessage(),
                "train.jsonl:2:", "expected an object with \"text\", or \"prompt\" and \"completion\"", "found keys [foo, bar]");
        assertContains(fails(write("train.jsonl", "[1, 2]")).getMessage(), "train.jsonl:1:", "found a JSON array");
        assertContains(fails(write("train.jsonl", "{\"text\": \"a\"} {\"text\": \"b\"}")).getMessage(), "train.jsonl:1:", "invalid JSON");
        assertContains(fails(write("mixed.jsonl", "{\"text\": \"a\"}", "{\"text\": \"b\"}", "{\"prompt\": \"p\", \"completion\": \"c\"}")).getMessage(),
                "mixed.jsonl:3:", "like line 1", "found prompt/completion");
        assertContains(fails(write("l.jsonl", "{\"text\": \"a\", \"label\": 1.5}")).getMessage(), "l.jsonl:1:", "\"label\" must be a string or an integer");
        assertContains(fails(write("n.jsonl", "{\"text\": 7}")).getMessage(), "n.jsonl:1:", "\"text\" must be a string");
        assertContains(fails(write("m.jsonl", "{\"messages\": [{\"role\": \"user\"}]}")).getMessage(), "m.jsonl:1:", "messages[0]", "missing \"content\"");
        assertContains(fails(write("e.jsonl", "", "")).getMessage(), "e.jsonl", "no records");
        assertContains(fails(write("x.txt", "hello")).getMessage(), "x.txt", ".jsonl or .csv");
    }

    @Test
    void splitsFromDirectoryOrFile() throws IOException {
        Path data = Files.createDirectory(dir.resolve("data"));
        Files.writeString(data.resolve("notes.md"), "x");
        DatasetException missing = assertThrows(DatasetException.class, () -> DatasetReader.readSplits(data));
        assertContains(missing.getMessage(), "train.jsonl", "[notes.md]");

        Files.writeString(data.resolve("train.jsonl"), "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
        DatasetSplits s = DatasetReader.readSplits(data);
        assertEquals(2, s.train().size());
        assertTrue(s.valid().isEmpty() && s.test().isEmpty());

        Files.writeString(data.resolve("valid.jsonl"), "{\"text\": \"v\"}\n");
        Files.writeString(data.resolve("test.csv"), "text\nt1\nt2\nt3\n");
        s = DatasetReader.readSplits(data);
        assertEquals(List.of(new Record.Text("v")), s.valid());
        assertEquals(3, s.test().size());
        assertEquals(Task.CAUSAL_LM, s.inferTask());

        Files.writeString(data.resolve("valid.jsonl"), "{\"text\": \"v\", \"label\": \"x\"}\n");
        assertContains(assertThrows(DatasetException.class, () -> DatasetReader.readSplits(data)).getMessage(),
                "valid.jsonl", "text/label", "same format");

        DatasetSplits single = DatasetReader.readSplits(data.resolve("train.jsonl"));
        assertEquals(2, single.train().size());
        assertTrue(single.valid().isEmpty());
        assertThrows(DatasetException.class, () -> DatasetReader.readSplits(dir.resolve("nope")));
    }

    @Test
    void taskInferenceAndParsing() {
        assertEquals(Task.CAUSAL_LM, DatasetReader.inferTask(List.of(new Record.Text("a"))));
        assertEquals(Task.CAUSAL_LM, DatasetReader.inferTask(List.of(new Record.PromptCompletion("a", "b"))));
        assertEquals(Task.CAUSAL_LM, DatasetReader.inferTask(List.of(new Record.Chat(List.of(new ChatMessage("user", "x"))))));
        assertEquals(Task.CLASSIFICATION, DatasetReader.inferTask(List.of(new Record.Classification("a", "b"))));
        assertEquals(Task.EMBEDDING, DatasetReader.inferTask(List.of(new Record.Pair("a", "b", null))));
        assertEquals(Task.CAUSAL_LM, Task.parse("causal-lm"));
        assertEquals(Task.CLASSIFICATION, Task.parse("Classification"));
        assertEquals(Task.EMBEDDING, Task.parse("embedding"));
        assertEquals("causal-lm", Task.CAUSAL_LM.cliName());
        assertContains(assertThrows(IllegalArgumentException.class, () -> Task.parse("seq2seq")).getMessage(), "causal-lm, classification or embedding");
        assertEquals(List.of("causal-lm", "classification", "embedding"), Arrays.stream(Task.values()).map(Task::cliName).toList());
    }
}
