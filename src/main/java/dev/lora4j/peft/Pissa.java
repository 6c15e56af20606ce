package dev.lora4j.peft;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * PiSSA's initialisation (Meng et al. 2024, Peft's init_lora_weights="pissa"): with W = U·S·Vᵀ, A = √S_r·V_rᵀ
 * and B = U_r·√S_r from the top r singular triplets, both divided by √scaling so that scaling·B·A is exactly
 * the rank-r principal part of W, which the base then gives up (W_res = W − scaling·B·A). Training starts at
 * the base model and moves the principal directions first.
 */
final class Pissa {
    /** A [r, in] and B [out, r], row-major. */
    record Factors(float[] a, float[] b) {}

    private Pissa() {}

    /** The factors for {@code weight} [out, in] (row-major), rank r, LoRA scaling {@code scaling}. */
    static Factors factor(float[] weight, int out, int in, int r, float scaling) {
        if (r > Math.min(out, in)) {
            throw new IllegalArgumentException("PiSSA rank " + r + " exceeds the rank of a [" + out + ", " + in + "] weight");
        }
        DMatrixRMaj w = new DMatrixRMaj(out, in);
        for (int i = 0; i < weight.length; i++) w.data[i] = weight[i];
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(out, in, true, true, true);
        if (!svd.decompose(w)) throw new IllegalStateException("SVD of a [" + out + ", " + in + "] weight did not converge");
        DMatrixRMaj u = svd.getU(null, false), v = svd.getV(null, false), s = svd.getW(null);
        // EJML does not sort the singular values; the top r must come first.
        SingularOps_DDRM.descendingOrder(u, false, s, v, false);
        float[] a = new float[r * in], b = new float[out * r];
        for (int k = 0; k < r; k++) {
            double root = Math.sqrt(s.get(k, k) / scaling);
            for (int i = 0; i < in; i++) a[k * in + i] = (float) (root * v.get(i, k));
            for (int o = 0; o < out; o++) b[o * r + k] = (float) (u.get(o, k) * root);
        }
        return new Factors(a, b);
    }
}
