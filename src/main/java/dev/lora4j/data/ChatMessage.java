package dev.lora4j.data;

import java.util.Objects;

/** One turn of a chat record: {@code {"role": "user", "content": "..."}} as in MLX-LM and TRL chat data. */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
