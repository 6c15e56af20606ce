package dev.lora4j.peft;

import dev.lora4j.kernel.Int8Matrix;
import dev.lora4j.kernel.Nf4Matrix;
import dev.lora4j.tensor.DType;
import dev.lora4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * How the frozen base weights of a LoRA model are stored ({@code train --base-dtype}): as loaded (F32, or BF16/F16
 * when read in place from the checkpoint), BF16, per-row INT8, or NF4 with double-quantized block scales (QLoRA).
 * Compute stays F32: GEMM widens or decodes each weight while it packs it.
 */
public enum BaseDType {
    F32, BF16, INT8, NF4;

    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** {@code w} [rows, cols] in this storage; F32 leaves it as it is. */
    public Tensor store(Tensor w) {
        if (w.shape().rank() != 2) throw new IllegalArgumentException("only matrices are stored as " + this + ", got " + w.shape());
        int rows = w.shape().dim(0), cols = w.shape().dim(1);
        return switch (this) {
            case F32 -> w;
            case BF16 -> w.isMapped() && w.mappedType() == DType.BF16 ? w : bf16(w);
            case INT8 -> Tensor.quantized(Int8Matrix.quantize(floatsOf(w), rows, cols));
            case NF4 -> Tensor.quantized(Nf4Matrix.quantize(floatsOf(w), rows, cols));
        };
    }

    /** The weight's values without keeping a heap copy in {@code w} (a mapped tensor would cache one). */
    static float[] floatsOf(Tensor w) {
        if (w.quantized() != null) return w.quantized().dequantize();
        if (w.isMapped()) return Tensor.fromSegment(w.segment(), w.mappedType(), w.shape()).data();
        return w.data();
    }

    private static Tensor bf16(Tensor w) {
        float[] v = floatsOf(w);
        // An automatic arena: the kernel threads may read it, and it is freed with the tensor.
        MemorySegment seg = Arena.ofAuto().allocate(2L * v.length, 2);
        for (int i = 0; i < v.length; i++) seg.setAtIndex(I16_LE, i, DType.floatToBf16(v[i]));
        return Tensor.mapped(seg, DType.BF16, w.shape());
    }
}
