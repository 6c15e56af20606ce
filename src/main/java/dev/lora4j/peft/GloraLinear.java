package dev.lora4j.peft;

import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.kernel.Gemm;
import dev.lora4j.nn.Init;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.ParameterDict;
import dev.lora4j.nn.Slot;
import dev.lora4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * GLoRA on a linear layer (Chavan et al. 2023, "One-for-All: Generalized LoRA for Parameter-Efficient
 * Fine-tuning", eq. 10): for the frozen weight W0 [out, in] and bias b0 [out]
 *
 * <pre>  f(x) = (W0 + W0⊙A + B)·x + W0·C + D⊙b0 + E + b0</pre>
 *
 * with ⊙ elementwise, which is how the authors' code (and every re-implementation) reads the paper's W0A and
 * Db0. The paper lets each of A..E be low-rank, a vector, a scalar or absent, and searches over these "supports"
 * per layer; lora4j fixes them, with no search:
 * <ul>
 *   <li>A = A_u·A_d and B = B_u·B_d, low rank r: A_u, B_u [out, r], A_d, B_d [r, in] ({@code glora_Au},
 *       {@code glora_Ad}, {@code glora_Bu}, {@code glora_Bd});</li>
 *   <li>C a vector [in] (the prompt term: W0·C is a learned bias [out] in W0's column space, {@code glora_C});</li>
 *   <li>D and E vectors [out] ({@code glora_D} scales b0, {@code glora_E} shifts it).</li>
 * </ul>
 * A_d and B_d start Kaiming-uniform as LoRA's A does and A_u, B_u, C, D, E at zero, so training starts exactly at
 * the base model. There is no alpha scaling (GLoRA has none) and no dropout.
 *
 * <p>Merging re-parameterises the layer (the paper's §3.2): W' = W0 + W0⊙A + B and b' = b0 + W0·C + D⊙b0 + E, so
 * inference is one plain linear. A base without a bias gets a zero, frozen bias here when wrapped, so that b' has
 * somewhere to go; merged and unloaded, such a layer then has a bias the original architecture may not have.
 * Unmerge subtracts the deltas cached at merge time, which is exact up to float rounding.
 */
public final class GloraLinear extends LinearLayer implements LoraLayer {
    /** The saved keys of one adapter, relative to the layer (Peft has no GLoRA; these follow the parameter names). */
    static final List<String> KEYS = List.of("glora_Au", "glora_Ad", "glora_Bu", "glora_Bd", "glora_C", "glora_D", "glora_E");

    private final Slot<Linear> base;
    private final Map<String, ParameterDict> params = new LinkedHashMap<>();
    /** Per merged adapter: the weight and bias deltas it added, which unmerge subtracts. */
    private final Map<String, float[][]> mergedDeltas = new LinkedHashMap<>();
    private final AdapterSet adapters = new AdapterSet();

    @Override
    public AdapterSet adapterSet() {
        return adapters;
    }
    private final boolean biasAdded;

    public GloraLinear(LinearLayer base) {
        if (!(base instanceof Linear lin)) {
            throw new IllegalArgumentException("GLoRA wraps Linear layers only here, got " + base.getClass().getSimpleName());
        }
        biasAdded = lin.bias() == null;
        Linear withBias = !biasAdded ? lin : new Linear(lin.weight(), Variable.constant(Tensor.zeros(lin.outFeatures())));
        this.base = register("base_layer", withBias);
        for (String k : KEYS) params.put(k, register(k, new ParameterDict()).get());
    }

    @Override
    public Linear baseLayer() {
        return base.get();
    }

    /**
     * True when the wrapped layer had no bias and got a zero one here: merged, it then has a bias its architecture's
     * checkpoint format may have no place for (Llama's projections), which a merged model directory would lose.
     */
    public boolean biasAdded() {
        return biasAdded;
    }

    private Variable w0() {
        return base.get().weight();
    }

    private Variable b0() {
        return base.get().bias();
    }

    private Variable p(String key, String name) {
        return params.get(key).at(name);
    }

    /** {@code config.r()} is the rank of A and B; alpha, dropout, DoRA and init do not apply to GLoRA. */
    @Override
    public void addAdapter(String name, LoraConfig config, RandomGenerator rnd) {
        int r = config.r(), in = inFeatures(), out = outFeatures();
        params.get("glora_Au").put(name, Variable.parameter(Tensor.zeros(out, r)));
        params.get("glora_Ad").put(name, Variable.parameter(Init.kaimingUniform(rnd, r, in)));
        params.get("glora_Bu").put(name, Variable.parameter(Tensor.zeros(out, r)));
        params.get("glora_Bd").put(name, Variable.parameter(Init.kaimingUniform(rnd, r, in)));
        params.get("glora_C").put(name, Variable.parameter(Tensor.zeros(in)));
        params.get("glora_D").put(name, Variable.parameter(Tensor.zeros(out)));
        params.get("glora_E").put(name, Variable.parameter(Tensor.zeros(out)));
        adapters.add(name, new AdapterSet.Settings(r, 1f, 0f, false));
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        for (ParameterDict d : params.values()) d.remove(name);
    }

    /** The effective weight and bias are built on the tape, then one linear: the update is dense, W0⊙A is. */
    @Override
    public Variable forward(Variable x) {
        List<String> active = adapters.unmergedActive();
        if (active.isEmpty()) return base.get().forward(x);
        Variable w0 = w0(), b0 = b0(), w = w0, b = b0;
        for (String name : active) {
            Variable a = Ops.linearInOut(p("glora_Au", name), p("glora_Ad", name), null);
            Variable bLow = Ops.linearInOut(p("glora_Bu", name), p("glora_Bd", name), null);
            w = Ops.add(Ops.add(w, Ops.mul(w0, a)), bLow);
            Variable prompt = Ops.linear(p("glora_C", name), w0, null);
            b = Ops.add(Ops.add(Ops.add(b, prompt), Ops.mul(p("glora_D", name), b0)), p("glora_E", name));
        }
        return Ops.linear(x, w, b);
    }

    /** A_u·A_d or B_u·B_d as [out, in]. */
    private float[] lowRank(String u, String d, String name) {
        Tensor up = p(u, name).value(), down = p(d, name).value();
        int out = outFeatures(), in = inFeatures(), r = up.shape().dim(1);
        float[] m = new float[out * in];
        if (r > 0) Gemm.nn(out, in, r, up.data(), down.data(), m, false);
        return m;
    }

    /** W0⊙A + B, [out, in], for the current base weight. */
    @Override
    public Tensor deltaWeight(String name) {
        adapters.require(name);
        float[] w0 = w0().data(), a = lowRank("glora_Au", "glora_Ad", name), b = lowRank("glora_Bu", "glora_Bd", name);
        for (int i = 0; i < a.length; i++) a[i] = w0[i] * a[i] + b[i];
        return Tensor.of(a, outFeatures(), inFeatures());
    }

    /** W0·C + D⊙b0 + E, [out], for the current base weight and bias. */
    public Tensor deltaBias(String name) {
        adapters.require(name);
        int out = outFeatures(), in = inFeatures();
        float[] w0 = w0().data(), b0 = b0().data(), c = p("glora_C", name).data(), d = p("glora_D", name).data(), e = p("glora_E", name).data();
        float[] db = new float[out];
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < in; i++) s += (double) w0[o * in + i] * c[i];
            db[o] = (float) s + d[o] * b0[o] + e[o];
        }
        return Tensor.of(db, out);
    }

    @Override
    public void merge(List<String> names) {
        adapters.merge(names, w0().data(), weightMerge);
    }

    @Override
    public void unmerge() {
        adapters.unmerge(w0().data(), weightMerge);
    }

    /** Both deltas are taken from the base as it is before this adapter changes it, and cached for unmerge. */
    private final AdapterSet.WeightMerge weightMerge = new AdapterSet.WeightMerge() {
        @Override
        public void merge(String name, float[] weight) {
            float[] dw = deltaWeight(name).data(), db = deltaBias(name).data(), bias = b0().data();
            for (int i = 0; i < dw.length; i++) weight[i] += dw[i];
            for (int o = 0; o < db.length; o++) bias[o] += db[o];
            mergedDeltas.put(name, new float[][] {dw, db});
        }

        @Override
        public void unmerge(String name, float[] weight) {
            float[][] d = mergedDeltas.remove(name);
            float[] bias = b0().data();
            for (int i = 0; i < d[0].length; i++) weight[i] -= d[0][i];
            for (int o = 0; o < d[1].length; o++) bias[o] -= d[1][o];
        }
    };

    /** The saved keys {@code glora_Au} ... {@code glora_E} (ParameterDict entries, no ".weight"). */
    @Override
    public Map<String, Variable> adapterParameters(String name) {
        adapters.require(name);
        Map<String, Variable> m = new LinkedHashMap<>();
        for (String k : KEYS) m.put(k, p(k, name));
        return m;
    }

    /** GLoRA has no scaling: 1. */

    @Override
    public int inFeatures() {
        return base.get().inFeatures();
    }

    @Override
    public int outFeatures() {
        return base.get().outFeatures();
    }
}
