#!/usr/bin/python3
"""Oracle for a frozen base stored as BF16 (`train --base-dtype bf16`): src/test/resources/fixtures/llama-tiny/bf16-base.safetensors.

Takes the committed llama-tiny fixture (weights, config, batch from make_decoder_fixtures.py), rounds the weights
that lora4j's QuantizedBase converts -- every linear layer's weight, i.e. q/k/v/o/gate/up/down_proj; not the
embedding table, the tied lm_head or the norms -- to bfloat16 with PyTorch's own rounding (w.to(torch.bfloat16),
round to nearest even), and runs the same plain-PyTorch forward in float32 on them. It writes:

  logits_bf16_base F32 [2,S,V]  the forward with the rounded weights
  bound            F32 [2,S,V]  first-order bound on |logits_bf16_base - logits| that follows from the rounding
                                alone: BF16 keeps 8 significant bits (7 stored + the implicit one), so a
                                weight rounded to nearest is w(1+e) with |e| <= 2^-8 (half a unit in the last
                                place, relative to the smallest value of its binade), and to first order
                                |d logit| <= 2^-8 * sum over rounded weights of |d logit / d w| * |w|
                                (one backward pass per logit; the gradient taken at the F32 weights)

Rerun:  apt-get install -y python3-torch && /usr/bin/python3 tools/make_bf16_base_fixture.py
(make_decoder_fixtures.py must have written llama-tiny first; its files are read, not rewritten.)
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_decoder_fixtures import OUT, llama_forward, read_safetensors, write_safetensors  # noqa: E402

LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
UNIT_ROUNDOFF = 2.0 ** -8


def main():
    d = os.path.join(OUT, "llama-tiny")
    with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    exp = read_safetensors(os.path.join(d, "expected.safetensors"))
    ids, mask = exp["input_ids"], exp["attention_mask"]
    rounded = [k for k in w if k.endswith(".weight") and k.split(".")[-2] in LINEAR]
    assert len(rounded) == 7 * cfg["num_hidden_layers"], rounded

    with torch.no_grad():
        assert torch.equal(llama_forward(cfg, w, ids, mask), exp["logits"]), "fixture and forward disagree"
        w16 = dict(w)
        for k in rounded:
            w16[k] = w[k].to(torch.bfloat16).to(torch.float32)
        logits16 = llama_forward(cfg, w16, ids, mask)

    leaves = {k: (w[k].clone().requires_grad_(True) if k in rounded else w[k]) for k in w}
    logits = llama_forward(cfg, leaves, ids, mask)
    flat = logits.reshape(-1)
    bound = torch.empty_like(flat)
    params = [leaves[k] for k in rounded]
    for i in range(flat.numel()):
        grads = torch.autograd.grad(flat[i], params, retain_graph=True)
        bound[i] = UNIT_ROUNDOFF * sum((g.abs() * p.detach().abs()).sum() for g, p in zip(grads, params))
    bound = bound.reshape(logits.shape).detach()

    diff = (logits16 - exp["logits"]).abs()
    real = mask.bool()[:, :, None].expand_as(diff)
    print(f"rounded {len(rounded)} weights; real positions: max |bf16 - f32| {diff[real].max():.3g}, "
          f"max bound {bound[real].max():.3g}, max diff/bound {(diff / bound)[real].max():.3f}")
    path = os.path.join(d, "bf16-base.safetensors")
    write_safetensors(path, {"logits_bf16_base": logits16, "bound": bound})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
