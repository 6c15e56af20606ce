"""Oracle values for lora4j's DoRA, PiSSA and GLoRA tests, computed independently with PyTorch (float64).

Writes src/test/resources/fixtures/variants/{dora,pissa,glora}.json. Run with Debian's torch:
    /usr/bin/python3 tools/make_variant_fixtures.py
The formulas follow Peft's tuners/lora (dora.py DoraLinearLayer.forward and Linear.merge; layer.py pissa_init),
written out here with plain torch so that the fixture does not depend on lora4j or on Peft being installed.
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "test", "resources", "fixtures", "variants")


def f32(t):
    # Values the Java side can hold exactly: round to float32, then compute in float64.
    return t.float().double()


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def dora():
    g = torch.Generator().manual_seed(20240217)
    out_f, in_f, r, rows, scaling = 6, 5, 3, 4, 2.0
    w = f32(torch.randn(out_f, in_f, generator=g))
    bias = f32(torch.randn(out_f, generator=g) * 0.1)
    a = f32(torch.randn(r, in_f, generator=g) * 0.5)
    b = f32(torch.randn(out_f, r, generator=g) * 0.5)
    m = f32(torch.rand(out_f, generator=g) + 1.0)
    x = f32(torch.randn(rows, in_f, generator=g))
    delta = scaling * (b @ a)
    norm = torch.linalg.norm(w + delta, dim=1)          # per output row of [out, in]
    mag = (m / norm).view(1, -1)
    base = x @ w.T + bias
    y = base + (mag - 1) * (x @ w.T) + mag * ((x @ a.T) @ b.T) * scaling
    merged = (m / norm).view(-1, 1) * (w + delta)
    init_magnitude = torch.linalg.norm(w + delta, dim=1)  # what DoRA starts m at for these A and B
    return {"out": out_f, "in": in_f, "r": r, "rows": rows, "scaling": scaling,
            "weight": flat(w), "bias": flat(bias), "lora_A": flat(a), "lora_B": flat(b), "magnitude": flat(m),
            "x": flat(x), "y": flat(y), "merged_weight": flat(merged), "initial_magnitude": flat(init_magnitude)}


def pissa():
    g = torch.Generator().manual_seed(7)
    out_f, in_f, r, scaling = 7, 5, 2, 4.0
    w = f32(torch.randn(out_f, in_f, generator=g))
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    sr = s[:r] / scaling
    a = torch.diag(torch.sqrt(sr)) @ vh[:r]
    b = u[:, :r] @ torch.diag(torch.sqrt(sr))
    # Singular vectors are defined up to sign, so the test compares B·A and the residual, which are not.
    return {"out": out_f, "in": in_f, "r": r, "scaling": scaling, "weight": flat(w),
            "scaled_BA": flat(scaling * (b @ a)), "residual": flat(w - scaling * (b @ a))}


def glora():
    # GLoRA (Chavan et al. 2023, eq. 10) with lora4j's fixed supports: A = Au·Ad, B = Bu·Bd low rank, C [in],
    # D and E [out]; ⊙ elementwise: f(x) = (W0 + W0⊙A + B)·x + W0·C + D⊙b0 + E + b0.
    g = torch.Generator().manual_seed(20231013)
    out_f, in_f, r, rows = 5, 7, 3, 4
    w = f32(torch.randn(out_f, in_f, generator=g))
    bias = f32(torch.randn(out_f, generator=g))
    au, bu = (f32(torch.randn(out_f, r, generator=g) * 0.3) for _ in range(2))
    ad, bd = (f32(torch.randn(r, in_f, generator=g) * 0.3) for _ in range(2))
    c = f32(torch.randn(in_f, generator=g) * 0.3)
    d, e = (f32(torch.randn(out_f, generator=g) * 0.3) for _ in range(2))
    x = f32(torch.randn(rows, in_f, generator=g))
    merged_w = w + w * (au @ ad) + bu @ bd
    merged_b = bias + w @ c + d * bias + e
    y = torch.nn.functional.linear(x, merged_w, merged_b)
    return {"out": out_f, "in": in_f, "r": r, "rows": rows, "weight": flat(w), "bias": flat(bias),
            "glora_Au": flat(au), "glora_Ad": flat(ad), "glora_Bu": flat(bu), "glora_Bd": flat(bd),
            "glora_C": flat(c), "glora_D": flat(d), "glora_E": flat(e), "x": flat(x), "y": flat(y),
            "merged_weight": flat(merged_w), "merged_bias": flat(merged_b)}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, make in (("dora", dora), ("pissa", pissa), ("glora", glora)):
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(make(), f, indent=1)
            f.write("\n")
