package dev.lora4j.nn;

import dev.lora4j.autograd.Variable;

/** Anything that maps token ids to vectors where an embedding stands: an {@link Embedding} or a wrapper of one. */
public abstract class EmbeddingLayer extends Module {
    public abstract Variable forward(int[] ids);

    public abstract int numEmbeddings();

    public abstract int embeddingDim();
}
