/**
 * Layer "tokenize": text to token ids and back, and chat templates.
 *
 * <p>{@link dev.lora4j.tokenize.Tokenizer} runs a Hugging Face tokenizer.json with the Rust tokenizers library
 * (DJL binding, native library bundled in its Maven Central jar, loaded offline);
 * {@link dev.lora4j.tokenize.ChatTemplate} renders the Jinja chat template of tokenizer_config.json with Jinjava
 * set up to behave like transformers' jinja2. Uses nothing else of lora4j.
 */
package dev.lora4j.tokenize;
