package dev.lora4j.data;

/** One classification example: a text and the index of its label. */
public record LabelledText(String text, int label) {}
