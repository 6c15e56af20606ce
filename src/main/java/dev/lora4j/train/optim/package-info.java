/**
 * Optimizers (AdamW, SGD), learning-rate schedules and gradient clipping, with the semantics of
 * {@code torch.optim} and Hugging Face transformers' schedulers so that a run here can be compared number for
 * number with the same run in Python.
 */
package dev.lora4j.train.optim;
