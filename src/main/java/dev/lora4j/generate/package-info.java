/**
 * Layer "generate": text generation with a {@link dev.lora4j.model.CausalLanguageModel} — prefill the prompt
 * once, then one token per step through the model's {@link dev.lora4j.model.KvCache}.
 *
 * <p>{@link dev.lora4j.generate.SamplingOptions} says how to pick each token; {@link dev.lora4j.generate.Sampler}
 * picks it from one row of logits with the rules of Hugging Face transformers' logits processors (repetition
 * penalty, then temperature, top-k, top-p, then a draw from the softmax; greedy argmax when temperature is 0);
 * {@link dev.lora4j.generate.Generator} runs the loop and streams tokens to a
 * {@link dev.lora4j.generate.TokenListener}; {@link dev.lora4j.generate.StreamingDecoder} turns the streamed ids
 * into text pieces without splitting multi-byte characters. Uses the model layer's interfaces only; the
 * tokenizer comes in as a plain {@code int[] -> String} function.
 */
package dev.lora4j.generate;
