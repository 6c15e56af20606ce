/** Summaries of models and adapters for people to read: the tables `lora4j inspect` prints. */
package dev.lora4j.inspect;
