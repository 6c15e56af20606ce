package dev.lora4j.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Scaled dot-product multi-head attention for training, forward and backward, with causal mask, key padding
 * mask and grouped-query heads (GQA), in the flash-attention spirit: the forward pass keeps only the output and
 * the per-row log-sum-exp; the backward pass recomputes the probabilities one block of query rows at a time.
 *
 * <h2>Layout</h2>
 * Everything is token-major exactly as a Linear projection writes it:
 * <ul>
 *   <li>q, out, dq, dOut: [batch·seq, heads·headDim]; row t, head h occupies columns h·headDim .. h·headDim+headDim-1.</li>
 *   <li>k, v, dk, dv: [batch·seq, kvHeads·headDim].</li>
 *   <li>lse: [batch·heads·seq], index (b·heads + h)·seq + i: log Σ_j exp(scale·q_i·k_j) over the keys row i sees.</li>
 *   <li>keyValid (nullable): [batch·seq], Hugging Face attention_mask semantics: false marks a padding key that no
 *       query may attend to.</li>
 * </ul>
 * Query head h reads kv head h / (heads / kvHeads). With {@code causal}, query i sees keys j ≤ i. A query row
 * that sees no key at all gets a zero output, lse = −∞ and no gradient.
 *
 * <h2>How it runs</h2>
 * Query rows are processed in blocks of {@value #BLOCK}: S = Q_blk·K[0:kEnd]ᵀ, masked row-wise softmax, then
 * out_blk = P·V, all with {@link Gemm} on strided head slices (no transposes or copies of q/k/v). With
 * {@code causal} the keys above the block's diagonal are never touched (kEnd = last row of the block + 1).
 * Because the whole (causally visible) key range of a block fits in the scratch row, the softmax is exact
 * two-pass rather than online; scratch is O(BLOCK·seq) floats per worker thread, never O(seq²).
 *
 * <p>Forward is parallel over (batch, head, query block). Backward is parallel over (batch, kvHead): the task
 * owns the dk/dv slice of its kv head and the dq slices of the query heads of its group, so the GQA sum over
 * the group needs no synchronisation and no extra scratch.
 *
 * <p>Scratch comes from a per-thread buffer that grows to the largest size seen (no per-call garbage):
 * forward BLOCK·seq floats, backward 2·BLOCK·seq + BLOCK floats.
 */
public final class Attention {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = SP.length();
    /** Query rows per block. */
    static final int BLOCK = 64;

    private Attention() {}

    /**
     * Shape of one attention call.
     *
     * @param batch   sequences in the batch (may be 0)
     * @param seq     tokens per sequence (may be 0)
     * @param heads   query heads
     * @param kvHeads key/value heads; must divide {@code heads}
     * @param headDim size of each head
     */
    public record Shape(int batch, int seq, int heads, int kvHeads, int headDim) {
        public Shape {
            if (batch < 0 || seq < 0) {
                throw new IllegalArgumentException("batch and seq must be >= 0, got batch=" + batch + ", seq=" + seq);
            }
            if (heads <= 0 || kvHeads <= 0 || headDim <= 0) {
                throw new IllegalArgumentException("heads, kvHeads and headDim must be > 0, got heads=" + heads
                        + ", kvHeads=" + kvHeads + ", headDim=" + headDim);
            }
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException("heads (" + heads + ") must be a multiple of kvHeads (" + kvHeads + ")");
            }
        }

        /** Query heads per kv head. */
        public int group() {
            return heads / kvHeads;
        }

        long tokens() {
            return (long) batch * seq;
        }

        long qLength() {
            return tokens() * heads * headDim;
        }

        long kvLength() {
            return tokens() * kvHeads * headDim;
        }

        long lseLength() {
            return (long) batch * heads * seq;
        }
    }

    // ------------------------------------------------------------------------------------------------ forward

    /**
     * Attention forward: out = softmax(scale·Q·Kᵀ + mask)·V per head; lse = the log-sum-exp of each row.
     * {@code out} and {@code lse} are overwritten. See the class comment for layouts.
     */
    public static void forward(float[] q, float[] k, float[] v, float[] out, float[] lse,
                               int batch, int seq, int heads, int kvHeads, int headDim,
                               boolean causal, boolean[] keyValid, float scale) {
        forward(q, k, v, out, lse, new Shape(batch, seq, heads, kvHeads, headDim), causal, keyValid, scale);
    }

    /** {@link #forward(float[], float[], float[], float[], float[], int, int, int, int, int, boolean, boolean[], float)} with a {@link Shape}. */
    public static void forward(float[] q, float[] k, float[] v, float[] out, float[] lse, Shape shape,
                               boolean causal, boolean[] keyValid, float scale) {
        checkLength("q", q, shape.qLength());
        checkLength("k", k, shape.kvLength());
        checkLength("v", v, shape.kvLength());
        checkLength("out", out, shape.qLength());
        checkLength("lse", lse, shape.lseLength());
        if (keyValid != null) checkLength("keyValid", keyValid.length, shape.tokens());
        if (shape.tokens() == 0) return;

        float[] bias = keyBias(keyValid);
        int seq = shape.seq(), heads = shape.heads();
        int blocks = (seq + BLOCK - 1) / BLOCK;
        Parallel.parallelFor(0, shape.batch() * heads * blocks, t -> {
            int bh = t / blocks;
            // Latest (largest under causal) blocks first, so the dynamic schedule ends with small tasks.
            int blk = blocks - 1 - t % blocks;
            forwardBlock(q, k, v, out, lse, shape, bh / heads, bh % heads, blk, causal, bias, scale);
        });
    }

    private static void forwardBlock(float[] q, float[] k, float[] v, float[] out, float[] lse, Shape sh,
                                     int b, int h, int blk, boolean causal, float[] bias, float scale) {
        int seq = sh.seq(), hd = sh.headDim();
        int ldq = sh.heads() * hd, ldkv = sh.kvHeads() * hd;
        int i0 = blk * BLOCK;
        int rows = Math.min(BLOCK, seq - i0);
        int kEnd = causal ? i0 + rows : seq;
        int qOff = (b * seq + i0) * ldq + h * hd;
        int kvOff = b * seq * ldkv + (h / sh.group()) * hd;
        int biasOff = b * seq;
        int lseOff = (b * sh.heads() + h) * seq + i0;

        float[] p = Scratch.get().p(rows * kEnd);
        Gemm.nt(rows, kEnd, hd, q, qOff, ldq, k, kvOff, ldkv, p, 0, kEnd, false);
        for (int r = 0; r < rows; r++) {
            int po = r * kEnd;
            int len = causal ? i0 + r + 1 : kEnd;
            float m = scaleMaskMax(p, po, len, scale, bias, biasOff);
            if (m == Float.NEGATIVE_INFINITY) {           // the row sees no key: zero output, no probability mass
                java.util.Arrays.fill(p, po, po + kEnd, 0f);
                lse[lseOff + r] = Float.NEGATIVE_INFINITY;
                continue;
            }
            float sum = expShiftSum(p, po, len, m);
            lse[lseOff + r] = (float) (m + Math.log(sum));
            scaleInPlace(p, po, len, 1f / sum);
            java.util.Arrays.fill(p, po + len, po + kEnd, 0f);
        }
        Gemm.nn(rows, hd, kEnd, p, 0, kEnd, v, kvOff, ldkv, out, qOff, ldq, false);
    }

    // ----------------------------------------------------------------------------------------------- backward

    /**
     * Attention backward. Adds the gradients of the loss with respect to q, k and v into dq, dk and dv (never
     * overwrites them), given the forward inputs, its {@code out} and {@code lse}, and dOut = ∂L/∂out.
     */
    public static void backward(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dOut,
                                float[] dq, float[] dk, float[] dv,
                                int batch, int seq, int heads, int kvHeads, int headDim,
                                boolean causal, boolean[] keyValid, float scale) {
        backward(q, k, v, out, lse, dOut, dq, dk, dv, new Shape(batch, seq, heads, kvHeads, headDim),
                causal, keyValid, scale);
    }

    /** {@link #backward(float[], float[], float[], float[], float[], float[], float[], float[], float[], int, int, int, int, int, boolean, boolean[], float)} with a {@link Shape}. */
    public static void backward(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dOut,
                                float[] dq, float[] dk, float[] dv, Shape shape,
                                boolean causal, boolean[] keyValid, float scale) {
        checkLength("q", q, shape.qLength());
        checkLength("k", k, shape.kvLength());
        checkLength("v", v, shape.kvLength());
        checkLength("out", out, shape.qLength());
        checkLength("lse", lse, shape.lseLength());
        checkLength("dOut", dOut, shape.qLength());
        checkLength("dq", dq, shape.qLength());
        checkLength("dk", dk, shape.kvLength());
        checkLength("dv", dv, shape.kvLength());
        if (keyValid != null) checkLength("keyValid", keyValid.length, shape.tokens());
        if (shape.tokens() == 0) return;

        float[] bias = keyBias(keyValid);
        int kvHeads = shape.kvHeads();
        Parallel.parallelFor(0, shape.batch() * kvHeads, t ->
                backwardGroup(q, k, v, out, lse, dOut, dq, dk, dv, shape, t / kvHeads, t % kvHeads,
                        causal, bias, scale));
    }

    private static void backwardGroup(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dOut,
                                      float[] dq, float[] dk, float[] dv, Shape sh, int b, int kvh,
                                      boolean causal, float[] bias, float scale) {
        int seq = sh.seq(), hd = sh.headDim(), group = sh.group();
        int ldq = sh.heads() * hd, ldkv = sh.kvHeads() * hd;
        int kvOff = b * seq * ldkv + kvh * hd;
        int biasOff = b * seq;
        Scratch scratch = Scratch.get();
        float[] d = scratch.d(BLOCK);

        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            for (int i0 = 0; i0 < seq; i0 += BLOCK) {
                int rows = Math.min(BLOCK, seq - i0);
                int kEnd = causal ? i0 + rows : seq;
                int qOff = (b * seq + i0) * ldq + h * hd;
                int lseOff = (b * sh.heads() + h) * seq + i0;
                float[] p = scratch.p(rows * kEnd);
                float[] ds = scratch.dp(rows * kEnd);

                // P = exp(scale·Q·Kᵀ + mask − lse), recomputed; D_i = dOut_i · out_i.
                Gemm.nt(rows, kEnd, hd, q, qOff, ldq, k, kvOff, ldkv, p, 0, kEnd, false);
                for (int r = 0; r < rows; r++) {
                    int po = r * kEnd;
                    int len = causal ? i0 + r + 1 : kEnd;
                    float l = lse[lseOff + r];
                    if (l == Float.NEGATIVE_INFINITY) {
                        java.util.Arrays.fill(p, po, po + kEnd, 0f);
                        d[r] = 0f;
                        continue;
                    }
                    expProb(p, po, len, scale, bias, biasOff, l);
                    java.util.Arrays.fill(p, po + len, po + kEnd, 0f);
                    d[r] = dot(dOut, qOff + r * ldq, out, qOff + r * ldq, hd);
                }
                // dV += Pᵀ·dOut
                Gemm.tn(kEnd, hd, rows, p, 0, kEnd, dOut, qOff, ldq, dv, kvOff, ldkv, true);
                // dP = dOut·Vᵀ, then dS = scale·P∘(dP − D) in place
                Gemm.nt(rows, kEnd, hd, dOut, qOff, ldq, v, kvOff, ldkv, ds, 0, kEnd, false);
                for (int r = 0; r < rows; r++) {
                    softmaxGrad(p, ds, r * kEnd, kEnd, d[r], scale);
                }
                // dQ += dS·K, dK += dSᵀ·Q
                Gemm.nn(rows, hd, kEnd, ds, 0, kEnd, k, kvOff, ldkv, dq, qOff, ldq, true);
                Gemm.tn(kEnd, hd, rows, ds, 0, kEnd, q, qOff, ldq, dk, kvOff, ldkv, true);
            }
        }
    }

    // ------------------------------------------------------------------------------------------- row kernels

    /** s[j] = scale·s[j] + bias[j] for j < len; returns the maximum (−∞ if every entry is masked). */
    private static float scaleMaskMax(float[] s, int off, int len, float scale, float[] bias, int bOff) {
        FloatVector vmax = FloatVector.broadcast(SP, Float.NEGATIVE_INFINITY);
        int upper = SP.loopBound(len);
        int j = 0;
        if (bias == null) {
            for (; j < upper; j += LANES) {
                FloatVector x = FloatVector.fromArray(SP, s, off + j).mul(scale);
                x.intoArray(s, off + j);
                vmax = vmax.max(x);
            }
        } else {
            for (; j < upper; j += LANES) {
                FloatVector x = FloatVector.fromArray(SP, s, off + j).mul(scale)
                        .add(FloatVector.fromArray(SP, bias, bOff + j));
                x.intoArray(s, off + j);
                vmax = vmax.max(x);
            }
        }
        float m = vmax.reduceLanes(VectorOperators.MAX);
        for (; j < len; j++) {
            float x = s[off + j] * scale;
            if (bias != null) x += bias[bOff + j];
            s[off + j] = x;
            m = Math.max(m, x);
        }
        return m;
    }

    /** s[j] = exp(s[j] − m) for j < len; returns the sum. m is finite. */
    private static float expShiftSum(float[] s, int off, int len, float m) {
        FloatVector vsum = FloatVector.zero(SP);
        int upper = SP.loopBound(len);
        int j = 0;
        for (; j < upper; j += LANES) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(SP, s, off + j).sub(m));
            e.intoArray(s, off + j);
            vsum = vsum.add(e);
        }
        float sum = VectorMath.sumLanes(vsum);
        for (; j < len; j++) {
            float e = (float) Math.exp(s[off + j] - m);
            s[off + j] = e;
            sum += e;
        }
        return sum;
    }

    /** s[j] = exp(scale·s[j] + bias[j] − lse) for j < len. */
    private static void expProb(float[] s, int off, int len, float scale, float[] bias, int bOff, float lse) {
        int upper = SP.loopBound(len);
        int j = 0;
        if (bias == null) {
            for (; j < upper; j += LANES) {
                VectorMath.exp(FloatVector.fromArray(SP, s, off + j).mul(scale).sub(lse)).intoArray(s, off + j);
            }
        } else {
            for (; j < upper; j += LANES) {
                VectorMath.exp(FloatVector.fromArray(SP, s, off + j).mul(scale).add(FloatVector.fromArray(SP, bias, bOff + j))
                        .sub(lse)).intoArray(s, off + j);
            }
        }
        for (; j < len; j++) {
            float x = s[off + j] * scale;
            if (bias != null) x += bias[bOff + j];
            s[off + j] = (float) Math.exp(x - lse);
        }
    }

    /** ds[j] = scale·p[j]·(ds[j] − d) for j < n (ds holds dP on entry). */
    private static void softmaxGrad(float[] p, float[] ds, int off, int n, float d, float scale) {
        int upper = SP.loopBound(n);
        int j = 0;
        for (; j < upper; j += LANES) {
            FloatVector dp = FloatVector.fromArray(SP, ds, off + j);
            FloatVector pv = FloatVector.fromArray(SP, p, off + j);
            dp.sub(d).mul(pv).mul(scale).intoArray(ds, off + j);
        }
        for (; j < n; j++) ds[off + j] = (ds[off + j] - d) * p[off + j] * scale;
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(SP);
        int upper = SP.loopBound(n);
        int j = 0;
        for (; j < upper; j += LANES) {
            acc = FloatVector.fromArray(SP, a, aOff + j).fma(FloatVector.fromArray(SP, b, bOff + j), acc);
        }
        float s = VectorMath.sumLanes(acc);
        for (; j < n; j++) s += a[aOff + j] * b[bOff + j];
        return s;
    }

    private static void scaleInPlace(float[] s, int off, int len, float c) {
        int upper = SP.loopBound(len);
        int j = 0;
        for (; j < upper; j += LANES) FloatVector.fromArray(SP, s, off + j).mul(c).intoArray(s, off + j);
        for (; j < len; j++) s[off + j] *= c;
    }

    // --------------------------------------------------------------------------------------------- helpers

    /** 0 for a valid key, −∞ for a padding key; null when there is no mask. */
    private static float[] keyBias(boolean[] keyValid) {
        if (keyValid == null) return null;
        float[] bias = new float[keyValid.length];
        for (int i = 0; i < bias.length; i++) bias[i] = keyValid[i] ? 0f : Float.NEGATIVE_INFINITY;
        return bias;
    }

    private static void checkLength(String name, float[] a, long expected) {
        if (a == null) throw new IllegalArgumentException(name + " must not be null");
        checkLength(name, a.length, expected);
    }

    private static void checkLength(String name, int actual, long expected) {
        if (actual != expected) {
            throw new IllegalArgumentException(name + " has length " + actual + ", expected " + expected);
        }
    }

    /** Per-thread scratch that grows to the largest block seen. */
    private static final class Scratch {
        private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);
        private float[] p = new float[0];
        private float[] dp = new float[0];
        private float[] d = new float[0];

        static Scratch get() {
            return LOCAL.get();
        }

        float[] p(int n) {
            if (p.length < n) p = new float[n];
            return p;
        }

        float[] dp(int n) {
            if (dp.length < n) dp = new float[n];
            return dp;
        }

        float[] d(int n) {
            if (d.length < n) d = new float[n];
            return d;
        }
    }
}
