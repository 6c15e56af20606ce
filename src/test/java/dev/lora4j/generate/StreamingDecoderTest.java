package dev.lora4j.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class StreamingDecoderTest {
    /** A byte-level vocabulary: token id -> bytes; decode concatenates and decodes UTF-8 (U+FFFD if cut). */
    private static final byte[][] VOCAB = {
        bytes("H"), bytes("i"), bytes(" "),
        {(byte) 0xC3}, {(byte) 0xA9},                         // é = C3 A9
        {(byte) 0xE2}, {(byte) 0x82}, {(byte) 0xAC},          // € = E2 82 AC
        {(byte) 0xF0, (byte) 0x9F}, {(byte) 0x98, (byte) 0x80}, // 😀 = F0 9F 98 80
        bytes("ok"),
    };

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static final Function<int[], String> BYTE_DECODE = ids -> {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(VOCAB[id]);
        return out.toString(StandardCharsets.UTF_8);
    };

    @Test
    void holdsBackIncompleteCharacters() {
        assertEquals("\uFFFD", BYTE_DECODE.apply(new int[] {3}), "fake decode gives U+FFFD for a cut character");
        StreamingDecoder d = new StreamingDecoder(BYTE_DECODE);
        int[] ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        List<String> pieces = new ArrayList<>();
        for (int id : ids) pieces.add(d.push(id));
        assertEquals(List.of("H", "i", " ", "", "é", "", "", "€", "", "😀", "ok"), pieces);
        assertEquals("", d.flush());
        assertEquals("Hi é€😀ok", d.text());
        assertEquals(BYTE_DECODE.apply(ids), d.text());
        assertArrayEquals(ids, d.ids());
    }

    @Test
    void flushEmitsADanglingPartialCharacter() {
        StreamingDecoder d = new StreamingDecoder(BYTE_DECODE);
        assertEquals("H", d.push(0));
        assertEquals("", d.push(5));
        assertEquals("", d.push(6));
        assertEquals("\uFFFD", d.flush());
        assertEquals("H\uFFFD", d.text());
    }

    @Test
    void piecesConcatenateToTheFullDecodeForRandomStreams() {
        SplittableRandom r = new SplittableRandom(3);
        // sequences of whole characters, each split into its byte tokens
        int[][] chars = {{0}, {1}, {2}, {3, 4}, {5, 6, 7}, {8, 9}, {10}};
        for (int trial = 0; trial < 200; trial++) {
            List<Integer> ids = new ArrayList<>();
            int n = r.nextInt(30);
            for (int i = 0; i < n; i++) for (int id : chars[r.nextInt(chars.length)]) ids.add(id);
            StreamingDecoder d = new StreamingDecoder(BYTE_DECODE);
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                String piece = d.push(id);
                assertEquals(-1, piece.indexOf('\uFFFD'), "no replacement char leaks out");
                sb.append(piece);
            }
            sb.append(d.flush());
            int[] all = ids.stream().mapToInt(Integer::intValue).toArray();
            assertEquals(BYTE_DECODE.apply(all), sb.toString());
            assertEquals(sb.toString(), d.text());
        }
    }

    /** SentencePiece-like: "▁" is a space, and decode drops the text's leading space. */
    private static final String[] PIECES = {"▁Hello", "▁world", ",", "▁how", "▁are", "▁you", "?"};

    private static final Function<int[], String> SP_DECODE = ids -> {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(PIECES[id].replace('▁', ' '));
        return sb.length() > 0 && sb.charAt(0) == ' ' ? sb.substring(1) : sb.toString();
    };

    @Test
    void keepsSpacesBetweenWordsAndUsesContextForTheFirst() {
        int[] ids = {1, 2, 3, 4, 5, 6};
        StreamingDecoder plain = new StreamingDecoder(SP_DECODE);
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(plain.push(id));
        assertEquals("world, how are you?", sb.toString());
        assertEquals(SP_DECODE.apply(ids), sb.toString());

        StreamingDecoder withContext = new StreamingDecoder(SP_DECODE, new int[] {0});
        assertEquals(" world", withContext.push(1));
        assertEquals(",", withContext.push(2));
        assertEquals(" how", withContext.push(3));
        assertEquals(" world, how", withContext.text());
        assertArrayEquals(new int[] {1, 2, 3}, withContext.ids());
    }

    @Test
    void emptyDecodesEmitNothingUntilTextAppears() {
        // a special token that decodes to nothing (skip_special_tokens)
        Function<int[], String> decode = ids -> {
            StringBuilder sb = new StringBuilder();
            for (int id : ids) if (id != 0) sb.append((char) ('a' + id));
            return sb.toString();
        };
        StreamingDecoder d = new StreamingDecoder(decode);
        assertEquals("", d.push(0));
        assertEquals("b", d.push(1));
        assertEquals("", d.push(0));
        assertEquals("c", d.push(2));
        assertEquals("bc", d.text());
    }
}
