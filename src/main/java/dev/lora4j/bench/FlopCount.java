package dev.lora4j.bench;

import dev.lora4j.model.bert.BertConfig;
import dev.lora4j.model.llama.LlamaConfig;

/**
 * The floating-point work of one LoRA training step (forward + backward), counted from the model's shape, so
 * that a step time becomes an achieved GFLOP/s that can be set against the machine's GEMM ceiling.
 *
 * <p>What is counted (2 FLOPs per multiply-add), T = batch·seq tokens:
 * <ul>
 *   <li>a frozen linear [in → out]: forward 2·T·in·out, backward only the input gradient, 2·T·in·out;</li>
 *   <li>a trained linear (the classifier): that plus its weight gradient, 3 × 2·T·in·out;</li>
 *   <li>a LoRA branch of rank r: forward x·Aᵀ and h·Bᵀ, backward dB, dh, dA, dx: 6·T·r·(in + out);</li>
 *   <li>attention: Q·Kᵀ and P·V, 4·batch·heads·seq²·headDim forward and twice that backward; for a causal model
 *       half of it (the masked upper triangle is work no implementation needs);</li>
 *   <li>the tied LM head: forward and input gradient, 2 × 2·T·hidden·vocab.</li>
 * </ul>
 * Not counted: norms, activations, softmax, RoPE, the loss, the optimizer (all O(T·hidden), a few per cent), and
 * work an implementation chooses to redo (lora4j's attention backward recomputes the scores). The same count
 * divides both lora4j's and PyTorch's step time, so their ratio is the ratio of the step times.
 */
public final class FlopCount {
    private FlopCount() {}

    private static double frozen(double t, int in, int out) {
        return 2 * 2 * t * in * out;
    }

    private static double lora(double t, int in, int out, int r) {
        return 6 * t * r * ((double) in + out);
    }

    /** A Llama decoder with LoRA on q, k, v, o, gate, up, down and a tied (frozen) LM head. */
    public static double llama(LlamaConfig c, int batch, int seq, int r) {
        double t = (double) batch * seq;
        int h = c.hiddenSize(), q = c.numAttentionHeads() * c.headDim(), kv = c.kvWidth(), i = c.intermediateSize();
        int[][] linears = {{h, q}, {h, kv}, {h, kv}, {q, h}, {h, i}, {h, i}, {i, h}};
        double layer = 0;
        for (int[] l : linears) layer += frozen(t, l[0], l[1]) + lora(t, l[0], l[1], r);
        layer += 0.5 * 3 * 4.0 * batch * c.numAttentionHeads() * (double) seq * seq * c.headDim();
        return c.numHiddenLayers() * layer + frozen(t, h, c.vocabSize());
    }

    /** A BERT encoder with LoRA on every encoder linear, a frozen pooler and a trained classifier on [CLS]. */
    public static double bert(BertConfig c, int batch, int seq, int r, int labels) {
        double t = (double) batch * seq;
        int h = c.hiddenSize(), i = c.intermediateSize();
        int[][] linears = {{h, h}, {h, h}, {h, h}, {h, h}, {h, i}, {i, h}};
        double layer = 0;
        for (int[] l : linears) layer += frozen(t, l[0], l[1]) + lora(t, l[0], l[1], r);
        layer += 3 * 4.0 * batch * c.numAttentionHeads() * (double) seq * seq * c.headDim();
        return c.numHiddenLayers() * layer + frozen(batch, h, h) + 3 * 2.0 * batch * h * labels;
    }
}
