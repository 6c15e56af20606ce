package dev.lora4j.cli;

import picocli.CommandLine.Command;

/** `lora4j train`: fine-tune a model with LoRA. */
@Command(name = "train", mixinStandardHelpOptions = true, description = "Fine-tune a model with LoRA.")
final class TrainCommand implements Runnable {
    @Override
    public void run() {
        System.out.println("train: not yet implemented");
    }
}
