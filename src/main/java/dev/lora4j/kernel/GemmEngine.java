package dev.lora4j.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The packed, cache-blocked, register-tiled GEMM behind {@link Gemm}, in the BLIS loop order.
 *
 * <pre>
 * for each K block (KC):            C accumulates over K blocks
 *   for each N block (NC):
 *     pack B[KC, NC] into NR-wide panels        (shared, packed in parallel)
 *     parallel over (MC rows x NCHUNK columns) tiles:
 *       pack A[MC, KC] into MR-tall panels      (per task, in a thread-local buffer)
 *       for each NR panel, for each MR panel:   micro-kernel MR x NR, MR*2 vector accumulators
 * </pre>
 * Packing is where the three layouts differ: once packed, every layout runs the same micro-kernel, and
 * zero padding in the packed panels turns edge tiles into full tiles whose extra rows/columns are not stored.
 */
final class GemmEngine {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Micro-tile: MR rows x NR columns (two vectors), 12 accumulators with 16-lane vectors. */
    static final int MR = 6;
    static final int NR = 2 * L;
    static final int KC = Integer.getInteger("lora4j.gemm.kc", 256);
    static final int MC = roundUp(Integer.getInteger("lora4j.gemm.mc", 72), MR);
    static final int NC = roundUp(Integer.getInteger("lora4j.gemm.nc", 4096), NR);
    /** Columns per parallel task: enough tasks for balance, enough width to amortise packing A. */
    static final int NCHUNK = roundUp(Integer.getInteger("lora4j.gemm.nchunk", 1024), NR);

    private static final ThreadLocal<float[]> PACK_A = ThreadLocal.withInitial(() -> new float[MC * KC]);
    private static final ThreadLocal<float[]> PACK_B = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> SHARED_A = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> SEGMENT_RUN = ThreadLocal.withInitial(() -> new float[KC]);
    private static final ThreadLocal<float[]> EDGE_TILE = ThreadLocal.withInitial(() -> new float[MR * NR]);

    private GemmEngine() {}

    static int roundUp(int x, int multiple) {
        return (x + multiple - 1) / multiple * multiple;
    }

    /**
     * The B operand: a heap array, or a frozen weight read in place from a (mapped) segment or from a quantized
     * matrix, widened to F32 while it is packed, so GEMM never needs a heap copy of the weight.
     */
    record BOperand(float[] array, MemorySegment segment, SegmentFormat format, QuantizedMatrix quantized, int offset, int ld) {
        static BOperand of(float[] b, int bOff, int ldb) {
            return new BOperand(b, null, null, null, bOff, ldb);
        }

        static BOperand of(MemorySegment segment, SegmentFormat format, int ld) {
            return new BOperand(null, segment, format, null, 0, ld);
        }

        /** A quantized weight, decoded while it is packed (the micro-kernel only ever sees F32 panels). */
        static BOperand of(QuantizedMatrix quantized, int ld) {
            return new BOperand(null, null, null, quantized, 0, ld);
        }

        /** Copies {@code count} consecutive elements starting at element {@code index} of the segment, widened. */
        void read(long index, float[] dst, int dstOff, int count) {
            if (quantized != null) {
                quantized.decode(index, dst, dstOff, count);
                return;
            }
            switch (format) {
                case F32 -> MemorySegment.copy(segment, F32_LE, index * 4, dst, dstOff, count);
                case BF16 -> widenBf16(segment, index, dst, dstOff, count);
                case F16 -> widenF16(segment, index, dst, dstOff, count);
            }
        }
    }

    /** BF16 is the top half of an F32: widening is a 16-bit shift, L lanes at a time (a decode step widens whole weights). */
    private static void widenBf16(MemorySegment segment, long index, float[] dst, int dstOff, int count) {
        int i = 0;
        for (int bound = S.loopBound(count); i < bound; i += L) {
            // S2I sign-extends; the shift pushes the extension out, leaving exactly the BF16 bits on top.
            ((IntVector) ShortVector.fromMemorySegment(BF16_LANES, segment, (index + i) * 2, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.S2I, INT_LANES, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
        }
        for (; i < count; i++) dst[dstOff + i] = Float.intBitsToFloat((segment.getAtIndex(I16_LE, index + i) & 0xFFFF) << 16);
    }

    /**
     * F16 has no Vector API conversion: one bulk copy of the bits into a short[], then a plain array loop over the
     * Float.float16ToFloat intrinsic, the form C2's auto-vectoriser can handle (element reads from a segment are not).
     */
    private static void widenF16(MemorySegment segment, long index, float[] dst, int dstOff, int count) {
        short[] bits = F16_BITS.get();
        if (bits.length < count) {
            bits = new short[count];
            F16_BITS.set(bits);
        }
        MemorySegment.copy(segment, I16_LE, index * 2, bits, 0, count);
        for (int i = 0; i < count; i++) dst[dstOff + i] = Float.float16ToFloat(bits[i]);
    }

    private static final ThreadLocal<short[]> F16_BITS = ThreadLocal.withInitial(() -> new short[0]);
    private static final VectorSpecies<Short> BF16_LANES = VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> INT_LANES = VectorSpecies.of(int.class, S.vectorShape());
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static void run(int m, int n, int k, float[] a, int aOff, int lda, boolean transA,
                    float[] b, int bOff, int ldb, boolean transB,
                    float[] c, int cOff, int ldc, boolean accumulate) {
        run(m, n, k, a, aOff, lda, transA, BOperand.of(b, bOff, ldb), transB, c, cOff, ldc, accumulate);
    }

    static void run(int m, int n, int k, float[] a, int aOff, int lda, boolean transA,
                    BOperand b, boolean transB,
                    float[] c, int cOff, int ldc, boolean accumulate) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative GEMM size " + m + "x" + n + "x" + k);
        if (m == 0 || n == 0) return;
        if (k == 0) {
            if (!accumulate) for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
            return;
        }
        if (!accumulate) {
            // The micro-kernel always adds into C: one branch-free code path, so the JIT never sees a profile flip
            // (a flip deoptimises the kernel back to the interpreter-speed tier for seconds).
            for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
        }
        boolean serial = Parallel.insideWorker() || Parallel.threads() == 1 || (long) m * n * k < 64L * 64 * 64;
        // A few rows of A (decoding): streaming B once beats packing it, whatever B's storage.
        if (SmallMGemm.applies(m, transA, transB)) {
            if (transB) SmallMGemm.nt(m, n, k, a, aOff, lda, b, c, cOff, ldc, serial);
            else SmallMGemm.nn(m, n, k, a, aOff, lda, b, c, cOff, ldc, serial);
            return;
        }
        // A LoRA branch's products (one dimension is the rank) stream their wide operands instead of packing them.
        if (b.array() != null && SkinnyGemm.tryRun(m, n, k, a, aOff, lda, transA, b.array(), b.offset(), b.ld(), transB, c, cOff, ldc, serial)) return;
        // K blocks of equal depth (K=576 with KC=384 runs as 2 x 288, not 384 + 192): a thin last block would
        // pay a full pass over the C tile for little work.
        int kBlocks = (k + KC - 1) / KC;
        int kc = (k + kBlocks - 1) / kBlocks;
        // Row blocks of equal height, their count a multiple of the thread count, so that no thread is left with
        // a thin remainder at the end.
        int mBlocks = (m + MC - 1) / MC;
        if (!serial && m >= MR * Parallel.threads()) mBlocks = roundUp(mBlocks, Parallel.threads());
        int blockHeight = roundUp((m + mBlocks - 1) / mBlocks, MR);
        int rowBlocks = (m + blockHeight - 1) / blockHeight;
        // When B is wide enough to be cut into several column chunks (the LM head: 49152 columns), each row block
        // of A would be packed once per chunk; packing all of A once and sharing it avoids that.
        int totalChunks = 0;
        for (int jc = 0; jc < n; jc += NC) totalChunks += chunkCount(Math.min(NC, n - jc));
        float[] sharedA = null;
        if (totalChunks > 1) {
            float[] ap = sharedABuffer(rowBlocks * kBlocks * blockHeight * kc);
            IntConsumer packShared = q -> {
                int rb = q / kBlocks, kb = q % kBlocks, i0 = rb * blockHeight, pc = kb * kc;
                packA(a, aOff, lda, transA, i0, Math.min(blockHeight, m - i0), pc, Math.min(kc, k - pc), ap,
                    (rb * kBlocks + kb) * blockHeight * kc);
            };
            if (serial) for (int q = 0; q < rowBlocks * kBlocks; q++) packShared.accept(q);
            else Parallel.parallelFor(0, rowBlocks * kBlocks, packShared);
            sharedA = ap;
        }
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int panels = (nc + NR - 1) / NR;
            // All of B[:, jc:jc+nc] is packed first, K block after K block, so that each task below then runs its
            // whole K loop alone: two fork/join rounds per N block instead of two per K block.
            float[] bp = packBBuffer(kBlocks * panels * NR * kc);
            int jcF = jc;
            IntConsumer pack = q -> {
                int kb = q / panels;
                int pc = kb * kc;
                packBPanel(b, transB, pc, Math.min(kc, k - pc), jcF, nc, q % panels, bp, kb * panels * NR * kc);
            };
            int nChunks = chunkCount(nc);
            int chunkWidth = roundUp((nc + nChunks - 1) / nChunks, NR);
            nChunks = (nc + chunkWidth - 1) / chunkWidth;
            Tiling tiling = new Tiling(nChunks, chunkWidth, blockHeight, kc, kBlocks, panels, sharedA);
            IntConsumer compute = t -> tile(t, tiling, m, k, nc, a, aOff, lda, transA, bp, c, cOff + jcF, ldc);
            if (serial) {
                for (int q = 0; q < kBlocks * panels; q++) pack.accept(q);
                for (int t = 0; t < rowBlocks * nChunks; t++) compute.accept(t);
            } else {
                Parallel.parallelFor(0, kBlocks * panels, pack);
                Parallel.parallelFor(0, rowBlocks * nChunks, compute);
            }
        }
    }

    /** Equal-width column chunks of about NCHUNK columns for an N block of nc columns. */
    private static int chunkCount(int nc) {
        return Math.max(1, Math.round((float) nc / NCHUNK));
    }

    private static float[] sharedABuffer(int size) {
        float[] buf = SHARED_A.get();
        if (buf.length < size) {
            buf = new float[size];
            SHARED_A.set(buf);
        }
        return buf;
    }

    private static float[] packBBuffer(int size) {
        float[] buf = PACK_B.get();
        if (buf.length < size) {
            buf = new float[size];
            PACK_B.set(buf);
        }
        return buf;
    }

    /**
     * How one N block is cut into parallel tasks: nChunks column chunks of chunkWidth, row blocks of
     * blockHeight; K runs in kBlocks blocks of kc, each K block's packed B {@code panels} NR-wide panels long;
     * sharedA, when not null, holds all of A packed (row block by K block), so tasks pack nothing.
     */
    private record Tiling(int nChunks, int chunkWidth, int blockHeight, int kc, int kBlocks, int panels, float[] sharedA) {}

    /** One parallel task: a row block x a column chunk of the current N block, over the whole K. */
    private static void tile(int t, Tiling tiling, int m, int k, int nc, float[] a, int aOff, int lda, boolean transA,
                             float[] bp, float[] c, int cOff, int ldc) {
        int i0 = (t / tiling.nChunks()) * tiling.blockHeight();
        int j0 = (t % tiling.nChunks()) * tiling.chunkWidth();
        int mc = Math.min(tiling.blockHeight(), m - i0);
        int jEnd = Math.min(nc, j0 + tiling.chunkWidth());
        float[] ap = tiling.sharedA() != null ? tiling.sharedA() : PACK_A.get();
        int rowBlock = i0 / tiling.blockHeight();
        for (int pc = 0, kb = 0; pc < k; pc += tiling.kc(), kb++) {
            int kc = Math.min(tiling.kc(), k - pc);
            int bBase = kb * tiling.panels() * NR * tiling.kc();
            int aBase = 0;
            if (tiling.sharedA() != null) aBase = (rowBlock * tiling.kBlocks() + kb) * tiling.blockHeight() * tiling.kc();
            else packA(a, aOff, lda, transA, i0, mc, pc, kc, ap, 0);
            for (int j = j0; j < jEnd; j += NR) {
                int cols = Math.min(NR, nc - j);
                int bpOff = bBase + (j / NR) * NR * kc;
                for (int i = 0; i < mc; i += MR) {
                    int rows = Math.min(MR, mc - i);
                    int cIdx = cOff + (i0 + i) * ldc + j;
                    if (rows == MR && cols == NR) {
                        kernelFull(ap, aBase + i * kc, bp, bpOff, kc, c, cIdx, ldc);
                    } else {
                        kernelEdge(ap, aBase + i * kc, bp, bpOff, kc, c, cIdx, ldc, rows, cols);
                    }
                }
            }
        }
    }

    /** Packs A[i0:i0+mc, pc:pc+kc] into MR-row panels, k-major inside a panel, zero-padded to MR rows. */
    private static void packA(float[] a, int aOff, int lda, boolean transA, int i0, int mc, int pc, int kc, float[] ap, int apOff) {
        if (transA) {
            // A stored [K, M] (dYᵀ in the weight gradient): sweep each k's row of the whole block once, reading
            // it contiguously and scattering into the panels. Walking it panel by panel instead touches every
            // row (a new page for each k) once per panel, which measured as the tn layout's main loss.
            int panels = (mc + MR - 1) / MR;
            for (int p = 0; p < kc; p++) {
                int src = aOff + (pc + p) * lda + i0;
                for (int r = 0; r < mc; r++) ap[apOff + (r / MR) * kc * MR + p * MR + r % MR] = a[src + r];
                for (int r = mc; r < panels * MR; r++) ap[apOff + (r / MR) * kc * MR + p * MR + r % MR] = 0f;
            }
            return;
        }
        for (int ib = 0; ib < mc; ib += MR) {
            int rows = Math.min(MR, mc - ib);
            int base = apOff + ib * kc;
            for (int r = 0; r < rows; r++) {
                int src = aOff + (i0 + ib + r) * lda + pc;
                for (int p = 0; p < kc; p++) ap[base + p * MR + r] = a[src + p];
            }
            for (int r = rows; r < MR; r++) {
                for (int p = 0; p < kc; p++) ap[base + p * MR + r] = 0f;
            }
        }
    }


    /** Packs panel q (NR columns) of B[pc:pc+kc, jc:jc+nc] k-major at blockBase, zero-padded to NR columns. */
    private static void packBPanel(BOperand src, boolean transB, int pc, int kc, int jc, int nc,
                                   int q, float[] bp, int blockBase) {
        int j = q * NR;
        int cols = Math.min(NR, nc - j);
        int base = blockBase + q * NR * kc;
        float[] b = src.array();
        int bOff = src.offset(), ldb = src.ld();
        if (transB) {
            // B stored [N, K] (weights [out, in]): read each column's K run contiguously, scatter with stride NR.
            float[] run = b == null ? SEGMENT_RUN.get() : null;
            for (int col = 0; col < cols; col++) {
                int srcIdx = bOff + (jc + j + col) * ldb + pc;
                if (b != null) {
                    for (int p = 0; p < kc; p++) bp[base + p * NR + col] = b[srcIdx + p];
                } else {
                    src.read(srcIdx, run, 0, kc);
                    for (int p = 0; p < kc; p++) bp[base + p * NR + col] = run[p];
                }
            }
            if (cols < NR) {
                for (int p = 0; p < kc; p++) java.util.Arrays.fill(bp, base + p * NR + cols, base + (p + 1) * NR, 0f);
            }
        } else {
            for (int p = 0; p < kc; p++) {
                int srcIdx = bOff + (pc + p) * ldb + jc + j;
                int dst = base + p * NR;
                if (b == null) {
                    src.read(srcIdx, bp, dst, cols);
                    if (cols < NR) java.util.Arrays.fill(bp, dst + cols, dst + NR, 0f);
                } else if (cols == NR) {
                    FloatVector.fromArray(S, b, srcIdx).intoArray(bp, dst);
                    FloatVector.fromArray(S, b, srcIdx + L).intoArray(bp, dst + L);
                } else {
                    System.arraycopy(b, srcIdx, bp, dst, cols);
                    java.util.Arrays.fill(bp, dst + cols, dst + NR, 0f);
                }
            }
        }
    }

    /**
     * The 6 x 2L micro-kernel, C += A·B: per k, two vector loads of B and six broadcasts of A feed twelve FMAs.
     * The accumulators start from C and are stored once at the end: loading C after the loop instead (a
     * read-add-write epilogue) measured 3x slower, because C2 then hoists those loads and spills in the loop.
     */
    private static void kernelFull(float[] ap, int aIdx, float[] bp, int bIdx, int kc, float[] c, int cIdx, int ldc) {
        int r1 = cIdx + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
        FloatVector c00 = FloatVector.fromArray(S, c, cIdx), c01 = FloatVector.fromArray(S, c, cIdx + L);
        FloatVector c10 = FloatVector.fromArray(S, c, r1), c11 = FloatVector.fromArray(S, c, r1 + L);
        FloatVector c20 = FloatVector.fromArray(S, c, r2), c21 = FloatVector.fromArray(S, c, r2 + L);
        FloatVector c30 = FloatVector.fromArray(S, c, r3), c31 = FloatVector.fromArray(S, c, r3 + L);
        FloatVector c40 = FloatVector.fromArray(S, c, r4), c41 = FloatVector.fromArray(S, c, r4 + L);
        FloatVector c50 = FloatVector.fromArray(S, c, r5), c51 = FloatVector.fromArray(S, c, r5 + L);
        for (int p = 0; p < kc; p++) {
            int bo = bIdx + p * NR;
            int ao = aIdx + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bo);
            FloatVector b1 = FloatVector.fromArray(S, bp, bo + L);
            FloatVector a0 = FloatVector.broadcast(S, ap[ao]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = a4.fma(b0, c40); c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = a5.fma(b0, c50); c51 = a5.fma(b1, c51);
        }
        c00.intoArray(c, cIdx); c01.intoArray(c, cIdx + L);
        c10.intoArray(c, r1); c11.intoArray(c, r1 + L);
        c20.intoArray(c, r2); c21.intoArray(c, r2 + L);
        c30.intoArray(c, r3); c31.intoArray(c, r3 + L);
        c40.intoArray(c, r4); c41.intoArray(c, r4 + L);
        c50.intoArray(c, r5); c51.intoArray(c, r5 + L);
    }

    /**
     * Edge tiles: the full micro-kernel on the zero-padded panels into a scratch tile, then only the valid
     * rows and columns reach C. Reusing the hot kernel keeps edges at full speed without a second code path.
     */
    private static void kernelEdge(float[] ap, int aIdx, float[] bp, int bIdx, int kc,
                                   float[] c, int cIdx, int ldc, int rows, int cols) {
        float[] tile = EDGE_TILE.get();
        java.util.Arrays.fill(tile, 0f);
        kernelFull(ap, aIdx, bp, bIdx, kc, tile, 0, NR);
        for (int r = 0; r < rows; r++) {
            int dst = cIdx + r * ldc, src = r * NR;
            for (int j = 0; j < cols; j++) c[dst + j] += tile[src + j];
        }
    }
}
