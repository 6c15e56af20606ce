package dev.lora4j.compress;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Conv1D;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.TargetModules;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * LoRA's low-rank idea applied to a whole model: each chosen weight matrix W [m, n] is replaced by its best
 * rank-r approximation U_r·S_r·V_rᵀ (Eckart–Young, truncated SVD via EJML), then optionally magnitude-pruned
 * and quantized. The model keeps dense weights (so it still loads as the same architecture, and its quality
 * can be measured as is); the report gives the parameters and bytes the compressed form needs: r·(m + n + 1)
 * for the factors when that is smaller than m·n, the kept entries after pruning, 1 byte per entry plus a float
 * scale per row with int8. Sparse storage's index overhead is not counted.
 */
public final class ModelCompression {

    /** Per-row symmetric int8 (absmax/127) quantize-dequantize of the kept weights, or none. */
    public enum Quantization {
        NONE, INT8, NF4;

        public static Quantization parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "none" -> NONE;
                case "int8" -> INT8;
                case "nf4" -> NF4;
                default -> throw new IllegalArgumentException("quantize '" + s + "': expected int8, nf4 or none");
            };
        }
    }

    /**
     * @param rank     target rank (0: no factorisation)
     * @param prune    fraction of each matrix's smallest-magnitude entries set to zero, in [0, 1)
     * @param targets  which linear layers (all-linear: every one but lm_head)
     */
    public record Options(int rank, double prune, Quantization quantize, TargetModules targets) {
        public Options {
            if (rank < 0) throw new IllegalArgumentException("rank must be >= 0, got " + rank);
            if (!(prune >= 0 && prune < 1)) throw new IllegalArgumentException("prune must be in [0, 1), got " + prune);
        }
    }

    /** One compressed matrix: its size before and after, and ||W − W'||_F / ||W||_F. */
    public record Layer(String path, int rows, int cols, long paramsBefore, long paramsAfter, long bytesBefore, long bytesAfter,
                        double relativeError) {}

    /** All compressed matrices and their totals. */
    public record Report(List<Layer> layers) {
        public long paramsBefore() {
            return layers.stream().mapToLong(Layer::paramsBefore).sum();
        }

        public long paramsAfter() {
            return layers.stream().mapToLong(Layer::paramsAfter).sum();
        }

        public long bytesBefore() {
            return layers.stream().mapToLong(Layer::bytesBefore).sum();
        }

        public long bytesAfter() {
            return layers.stream().mapToLong(Layer::bytesAfter).sum();
        }
    }

    private ModelCompression() {}

    /** Compresses the chosen weights of {@code model} in place and reports what it did. */
    public static Report compress(Module model, Options o) {
        List<Layer> out = new ArrayList<>();
        for (var e : model.namedModules().entrySet()) {
            String path = e.getKey();
            Variable w = switch (e.getValue()) {
                case Linear l -> l.weight();
                case Conv1D c -> c.weight();
                default -> null;
            };
            if (w == null || !selected(o.targets(), path)) continue;
            out.add(compressMatrix(path, w, o));
        }
        if (out.isEmpty()) throw new IllegalArgumentException("compress: no linear layer matches the targets " + o.targets());
        return new Report(out);
    }

    private static boolean selected(TargetModules t, String path) {
        if (t instanceof TargetModules.AllLinear) return !(path.equals("lm_head") || path.endsWith(".lm_head"));
        return t.matches(path);
    }

    private static Layer compressMatrix(String path, Variable w, Options o) {
        int m = w.shape().dim(0), n = w.shape().dim(1);
        float[] d = w.data();
        float[] original = d.clone();
        long params = (long) m * n, after = params;
        if (o.rank() > 0 && o.rank() < Math.min(m, n)) {
            truncate(d, m, n, o.rank());
            after = Math.min(params, (long) o.rank() * (m + n + 1));
        }
        if (o.prune() > 0) {
            float[] mags = new float[d.length];
            for (int i = 0; i < d.length; i++) mags[i] = Math.abs(d[i]);
            Arrays.sort(mags);
            int cut = (int) Math.floor(o.prune() * d.length);
            float threshold = cut == 0 ? -1 : mags[cut - 1];
            int zeroed = 0;
            for (int i = 0; i < d.length && zeroed < cut; i++) {
                if (Math.abs(d[i]) <= threshold) {
                    d[i] = 0;
                    zeroed++;
                }
            }
            after = Math.min(after, (long) d.length - zeroed);
        }
        long bytes = after * 4;
        if (o.quantize() == Quantization.INT8) {
            quantizeRows(d, m, n);
            bytes = after + 4L * m;
        } else if (o.quantize() == Quantization.NF4) {
            // QLoRA's NF4 with double-quantized block scales, quantized and read back (what an NF4 checkpoint computes).
            System.arraycopy(dev.lora4j.kernel.Nf4Matrix.quantize(d, m, n).dequantize(), 0, d, 0, d.length);
            bytes = dev.lora4j.kernel.Nf4Matrix.storageBytes(after);
        }
        double err = 0, norm = 0;
        for (int i = 0; i < d.length; i++) {
            err += (double) (d[i] - original[i]) * (d[i] - original[i]);
            norm += (double) original[i] * original[i];
        }
        return new Layer(path, m, n, params, after, params * 4, bytes, norm == 0 ? 0 : Math.sqrt(err / norm));
    }

    /** W ← U_k·S_k·V_kᵀ, the best rank-k approximation in the Frobenius norm. */
    static void truncate(float[] w, int m, int n, int k) {
        DMatrixRMaj a = new DMatrixRMaj(m, n);
        for (int i = 0; i < w.length; i++) a.data[i] = w[i];
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(m, n, true, true, true);
        if (!svd.decompose(a)) throw new IllegalStateException("SVD of a " + m + "x" + n + " weight did not converge");
        double[] s = svd.getSingularValues();
        DMatrixRMaj u = svd.getU(null, false), v = svd.getV(null, false);
        Integer[] order = new Integer[s.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (x, y) -> Double.compare(s[y], s[x]));
        double[] out = new double[m * n];
        for (int j = 0; j < Math.min(k, s.length); j++) {
            int c = order[j];
            for (int r = 0; r < m; r++) {
                double us = u.get(r, c) * s[c];
                for (int x = 0; x < n; x++) out[r * n + x] += us * v.get(x, c);
            }
        }
        for (int i = 0; i < w.length; i++) w[i] = (float) out[i];
    }

    /** Each row to int8 with scale absmax/127 and back (what an int8 checkpoint would compute). */
    static void quantizeRows(float[] w, int m, int n) {
        for (int r = 0; r < m; r++) {
            float max = 0;
            for (int x = 0; x < n; x++) max = Math.max(max, Math.abs(w[r * n + x]));
            if (max == 0) continue;
            float scale = max / 127f;
            for (int x = 0; x < n; x++) w[r * n + x] = Math.round(w[r * n + x] / scale) * scale;
        }
    }
}
