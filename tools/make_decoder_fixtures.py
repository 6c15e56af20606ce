#!/usr/bin/python3
"""Generate tiny decoder-only test fixtures for lora4j (oracle data for the Java forward and generate code).

For each tiny random-weight model this writes a Hugging Face style directory under
src/test/resources/fixtures/<name>/:

  config.json          as transformers' save_pretrained writes it for that architecture
                       (json.dumps(sort_keys=True, indent=2) of the non-default fields; format of transformers 4.48)
  model.safetensors    the weights under transformers' checkpoint key names (tied lm_head not stored)
  expected.safetensors input_ids I64 [2,S], attention_mask I64 [2,S] (row 1 right-padded),
                       logits F32 [2,S,V], prompt I64 [P], greedy I64 [N]

The forward passes are a plain-PyTorch re-implementation of transformers' reference code
(modeling_gpt2.py, modeling_llama.py, modeling_qwen2.py, modeling_mistral.py, modeling_rope_utils.py), kept
deliberately literal: same dtype handling, same op order, same mask construction. transformers itself is not
needed (and is not available from Debian bookworm).

Rerun:  apt-get install -y python3-torch libopenblas0-pthread && /usr/bin/python3 tools/make_decoder_fixtures.py
CI does not run this script; the outputs are committed.
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures")

VOCAB = 96
SEQ = 11          # S: tokens per row of the batched logits check
PAD_TAIL = 3      # row 1 (second row) has its last PAD_TAIL positions padded (attention_mask 0)
PROMPT = 5        # P
NEW_TOKENS = 8    # N
# Weight scale. 1/sqrt(hidden) rather than the usual 0.02: with hidden 64 and std 0.02 the attention is almost
# uniform, so RoPE scaling / rotate_half / gelu_new change the logits by only ~1e-3 / ~1e-5 and greedy runs repeat
# one token; at 1/sqrt(64) every one of those paths moves the logits by O(1) (gelu_new vs erf GELU: ~1e-3).
WEIGHT_STD = 0.125
MIN_GREEDY_GAP = 2e-3  # top-1 minus top-2 logit at every greedy step must exceed this (robust argmax in Java)
TRANSFORMERS_FORMAT = "4.48.0"  # the config.json layout imitated (rope_scaling honoured by Mistral since 4.48)

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------------
# safetensors writer (format: 8-byte LE header size N, N bytes JSON header padded with spaces to a multiple of 8,
# then the raw little-endian data of every tensor, contiguous, in header order)
# ---------------------------------------------------------------------------------------------------------------

_DTYPES = {torch.float32: ("F32", 4), torch.int64: ("I64", 8)}


def write_safetensors(path, tensors, metadata=None):
    names = sorted(tensors)
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs = []
    offset = 0
    for name in names:
        t = tensors[name].detach().contiguous().cpu()
        dtype, size = _DTYPES[t.dtype]
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        assert len(raw) == t.numel() * size
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Independent reader, used only to verify what was written."""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    end_max = 0
    for name, info in header.items():
        s, e = info["data_offsets"]
        np_dtype = {"F32": "<f4", "I64": "<i8"}[info["dtype"]]
        arr = np.frombuffer(data[base + s: base + e], dtype=np_dtype).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
        end_max = max(end_max, e)
    assert base + end_max == len(data), path
    return out


def write_config(path, cfg):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# shared pieces
# ---------------------------------------------------------------------------------------------------------------

def min_value():
    return torch.finfo(torch.float32).min


def llama_additive_mask(attention_mask):
    """transformers' _prepare_4d_causal_attention_mask_with_cache_position (no cache, target_length = S):
    full(min) -> triu(1) -> where both causal-visible and attention_mask == 0, also min. Entries are 0 or min."""
    b, s = attention_mask.shape
    causal = torch.full((s, s), min_value(), dtype=torch.float32)
    causal = torch.triu(causal, diagonal=1)
    causal = causal[None, None, :, :].expand(b, 1, -1, -1).clone()
    padding = causal + attention_mask[:, None, None, :].to(torch.float32)
    padding = padding == 0
    causal = causal.masked_fill(padding, min_value())
    return causal


def gelu_new(x):
    # transformers.activations.NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


# ---------------------------------------------------------------------------------------------------------------
# GPT-2 (modeling_gpt2.py, eager attention)
# ---------------------------------------------------------------------------------------------------------------

def gpt2_forward(cfg, w, input_ids, attention_mask, opts=None):
    opts = opts or {}
    b, s = input_ids.shape
    e = cfg["n_embd"]
    nh = cfg["n_head"]
    hd = e // nh
    eps = cfg["layer_norm_epsilon"]
    p = "transformer."
    position_ids = torch.arange(0, s, dtype=torch.long)[None, :]
    h = w[p + "wte.weight"][input_ids] + w[p + "wpe.weight"][position_ids]
    # GPT2Model: attention_mask[:, None, None, :] -> (1 - mask) * finfo.min
    pad_add = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * min_value()
    causal = torch.tril(torch.ones((s, s), dtype=torch.bool))[None, None]
    act = opts.get("act", gelu_new)
    for i in range(cfg["n_layer"]):
        q = f"{p}h.{i}."
        residual = h
        x = F.layer_norm(h, (e,), w[q + "ln_1.weight"], w[q + "ln_1.bias"], eps)
        # Conv1D: x @ weight[in, out] + bias  (torch.addmm(bias, x, weight))
        qkv = torch.addmm(w[q + "attn.c_attn.bias"], x.view(-1, e), w[q + "attn.c_attn.weight"]).view(b, s, 3 * e)
        query, key, value = qkv.split(e, dim=2)

        def heads(t):
            return t.view(b, s, nh, hd).permute(0, 2, 1, 3)

        query, key, value = heads(query), heads(key), heads(value)
        att = torch.matmul(query, key.transpose(-1, -2))
        att = att / torch.full([], value.size(-1) ** 0.5, dtype=att.dtype)
        att = torch.where(causal, att, torch.full([], min_value(), dtype=att.dtype))
        if not opts.get("no_pad_mask"):
            att = att + pad_add
        att = torch.softmax(att, dim=-1)
        o = torch.matmul(att, value)
        o = o.permute(0, 2, 1, 3).contiguous().view(b, s, e)
        o = torch.addmm(w[q + "attn.c_proj.bias"], o.view(-1, e), w[q + "attn.c_proj.weight"]).view(b, s, e)
        h = residual + o
        residual = h
        x = F.layer_norm(h, (e,), w[q + "ln_2.weight"], w[q + "ln_2.bias"], eps)
        inner = w[q + "mlp.c_fc.weight"].shape[1]
        m = torch.addmm(w[q + "mlp.c_fc.bias"], x.view(-1, e), w[q + "mlp.c_fc.weight"]).view(b, s, inner)
        m = act(m)
        m = torch.addmm(w[q + "mlp.c_proj.bias"], m.view(-1, inner), w[q + "mlp.c_proj.weight"]).view(b, s, e)
        h = residual + m
    h = F.layer_norm(h, (e,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    return F.linear(h, w[p + "wte.weight"])  # lm_head tied to wte, no bias


# ---------------------------------------------------------------------------------------------------------------
# Llama / Qwen2 / Mistral (modeling_llama.py family, eager attention)
# ---------------------------------------------------------------------------------------------------------------

def rope_inv_freq(cfg, ignore_scaling=False):
    """modeling_rope_utils: _compute_default_rope_parameters / _compute_linear_scaling_rope_parameters /
    _compute_llama3_parameters. Returns (inv_freq float32 [head_dim/2], attention_scaling)."""
    base = cfg["rope_theta"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    dim = int(head_dim * cfg.get("partial_rotary_factor", 1.0))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    attention_factor = 1.0
    rs = None if ignore_scaling else cfg.get("rope_scaling")
    if rs is None:
        return inv_freq, attention_factor
    rope_type = rs.get("rope_type", rs.get("type"))
    if rope_type == "default":
        return inv_freq, attention_factor
    if rope_type == "linear":
        inv_freq /= rs["factor"]
        return inv_freq, attention_factor
    if rope_type == "llama3":
        factor = rs["factor"]
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq_llama = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
        return inv_freq_llama, attention_factor
    raise ValueError(f"rope_type {rope_type} not implemented here")


def rope_cos_sin(inv_freq, attention_scaling, position_ids):
    # LlamaRotaryEmbedding.forward (float32 throughout)
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = emb.cos() * attention_scaling
    sin = emb.sin() * attention_scaling
    return cos, sin


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotate_interleaved(x):
    # GPT-J / Meta-original style pairing (2i, 2i+1): only used in the sanity check to show it differs
    x1 = x[..., 0::2]
    x2 = x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def apply_rotary_pos_emb(q, k, cos, sin, interleaved=False):
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    if interleaved:
        half = cos.shape[-1] // 2
        cos = cos[..., :half].repeat_interleave(2, dim=-1)
        sin = sin[..., :half].repeat_interleave(2, dim=-1)
        return q * cos + rotate_interleaved(q) * sin, k * cos + rotate_interleaved(k) * sin
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def rms_norm(x, weight, eps):
    # LlamaRMSNorm.forward
    input_dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return weight * x.to(input_dtype)


def llama_forward(cfg, w, input_ids, attention_mask, opts=None):
    opts = opts or {}
    b, s = input_ids.shape
    hidden = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // nh
    eps = cfg["rms_norm_eps"]
    groups = nh // nkv
    scaling = hd ** -0.5

    h = w["model.embed_tokens.weight"][input_ids]
    position_ids = torch.arange(0, s, dtype=torch.long)[None, :].expand(b, s)  # cache_position.unsqueeze(0)
    inv_freq, att_scale = rope_inv_freq(cfg, ignore_scaling=opts.get("no_rope_scaling", False))
    cos, sin = rope_cos_sin(inv_freq, att_scale, position_ids)
    if opts.get("no_pad_mask"):
        mask = llama_additive_mask(torch.ones_like(attention_mask))
    else:
        mask = llama_additive_mask(attention_mask)

    def lin(x, name, bias_ok=True):
        bias = w.get(name + ".bias") if bias_ok and not opts.get("no_bias") else None
        return F.linear(x, w[name + ".weight"], bias)

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        residual = h
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = lin(x, p + "self_attn.q_proj").view(b, s, -1, hd).transpose(1, 2)
        k = lin(x, p + "self_attn.k_proj").view(b, s, -1, hd).transpose(1, 2)
        v = lin(x, p + "self_attn.v_proj").view(b, s, -1, hd).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin, interleaved=opts.get("interleaved_rope", False))
        if opts.get("tile_kv"):  # wrong GQA mapping (head j uses kv head j % nkv): sanity check only
            k = k.repeat(1, groups, 1, 1)
            v = v.repeat(1, groups, 1, 1)
        else:
            k = repeat_kv(k, groups)
            v = repeat_kv(v, groups)
        att = torch.matmul(q, k.transpose(2, 3)) * scaling
        att = att + mask[:, :, :, : k.shape[-2]]
        att = F.softmax(att, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(att, v)
        o = o.transpose(1, 2).contiguous().reshape(b, s, -1)
        o = lin(o, p + "self_attn.o_proj")
        h = residual + o
        residual = h
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        act = F.silu  # ACT2FN["silu"]
        m = lin(act(lin(x, p + "mlp.gate_proj")) * lin(x, p + "mlp.up_proj"), p + "mlp.down_proj")
        h = residual + m
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return F.linear(h, head)


# ---------------------------------------------------------------------------------------------------------------
# configs (exactly the keys transformers' to_diff_dict keeps for each config class) and weights
# ---------------------------------------------------------------------------------------------------------------

def gpt2_config():
    # n_inner 128 (not null = 4*n_embd) keeps the directory near 300 KB and makes readers honour n_inner.
    # GPT2Config: every class-specific field is written; tie_word_embeddings (True) equals the PretrainedConfig
    # default and the class default, so transformers omits it: readers must default it to true.
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.0,
        "bos_token_id": 95,
        "embd_pdrop": 0.0,
        "eos_token_id": 95,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_embd": 64,
        "n_head": 4,
        "n_inner": 128,
        "n_layer": 2,
        "n_positions": 64,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.0,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_FORMAT,
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def llama_config():
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 32,
            "rope_type": "llama3",
        },
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_FORMAT,
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def qwen2_config():
    # Qwen2Config has no head_dim field; head_dim = hidden_size // num_attention_heads = 16.
    # q/k/v biases are implied by the architecture (always present), o_proj has none.
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "max_window_layers": 2,
        "model_type": "qwen2",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_FORMAT,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }


def mistral_config():
    # MistralConfig has no rope_scaling argument; it arrives through **kwargs and is serialized as an extra key.
    # transformers >= 4.48 (modular Mistral, LlamaRotaryEmbedding-style) honours it; older versions ignored it.
    return {
        "architectures": ["MistralForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "model_type": "mistral",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {"factor": 2.0, "rope_type": "linear"},
        "rope_theta": 10000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_FORMAT,
        "use_cache": True,
        "vocab_size": VOCAB,
    }


class Init:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=WEIGHT_STD):
        return torch.randn(*shape, generator=self.g) * std

    def norm_weight(self, n):
        return 1.0 + 0.1 * torch.randn(n, generator=self.g)


def gpt2_weights(cfg, seed):
    r = Init(seed)
    e, v, n_pos = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    inner = cfg["n_inner"] or 4 * e
    w = {}
    p = "transformer."
    w[p + "wte.weight"] = r.normal(v, e)
    w[p + "wpe.weight"] = r.normal(n_pos, e)
    for i in range(cfg["n_layer"]):
        q = f"{p}h.{i}."
        w[q + "ln_1.weight"] = r.norm_weight(e)
        w[q + "ln_1.bias"] = r.normal(e)
        w[q + "attn.c_attn.weight"] = r.normal(e, 3 * e)        # Conv1D [in, out]
        w[q + "attn.c_attn.bias"] = r.normal(3 * e)
        w[q + "attn.c_proj.weight"] = r.normal(e, e)
        w[q + "attn.c_proj.bias"] = r.normal(e)
        w[q + "ln_2.weight"] = r.norm_weight(e)
        w[q + "ln_2.bias"] = r.normal(e)
        w[q + "mlp.c_fc.weight"] = r.normal(e, inner)
        w[q + "mlp.c_fc.bias"] = r.normal(inner)
        w[q + "mlp.c_proj.weight"] = r.normal(inner, e)
        w[q + "mlp.c_proj.bias"] = r.normal(e)
    w[p + "ln_f.weight"] = r.norm_weight(e)
    w[p + "ln_f.bias"] = r.normal(e)
    return w


def llama_weights(cfg, seed, qkv_bias):
    r = Init(seed)
    hs, v, inter = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hs // nh
    w = {"model.embed_tokens.weight": r.normal(v, hs)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = r.norm_weight(hs)
        w[p + "self_attn.q_proj.weight"] = r.normal(nh * hd, hs)     # nn.Linear [out, in]
        w[p + "self_attn.k_proj.weight"] = r.normal(nkv * hd, hs)
        w[p + "self_attn.v_proj.weight"] = r.normal(nkv * hd, hs)
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = r.normal(nh * hd)
            w[p + "self_attn.k_proj.bias"] = r.normal(nkv * hd)
            w[p + "self_attn.v_proj.bias"] = r.normal(nkv * hd)
        w[p + "self_attn.o_proj.weight"] = r.normal(hs, nh * hd)
        w[p + "post_attention_layernorm.weight"] = r.norm_weight(hs)
        w[p + "mlp.gate_proj.weight"] = r.normal(inter, hs)
        w[p + "mlp.up_proj.weight"] = r.normal(inter, hs)
        w[p + "mlp.down_proj.weight"] = r.normal(hs, inter)
    w["model.norm.weight"] = r.norm_weight(hs)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = r.normal(v, hs)
    return w


# ---------------------------------------------------------------------------------------------------------------
# inputs, greedy decoding, output
# ---------------------------------------------------------------------------------------------------------------

def make_batch(seed, pad_id):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (2, SEQ), generator=g, dtype=torch.int64)
    mask = torch.ones((2, SEQ), dtype=torch.int64)
    mask[1, SEQ - PAD_TAIL:] = 0
    ids[1, SEQ - PAD_TAIL:] = pad_id
    return ids, mask


def greedy(forward, cfg, w, prompt):
    """Greedy argmax, full recompute each step (no KV cache), no EOS stopping. Returns (new tokens, min gap)."""
    ids = prompt[None, :].clone()
    out, gaps = [], []
    for _ in range(NEW_TOKENS):
        logits = forward(cfg, w, ids, torch.ones_like(ids))[0, -1]
        top2 = torch.topk(logits, 2).values
        gaps.append(float(top2[0] - top2[1]))
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]], dtype=torch.int64)], dim=1)
    return torch.tensor(out, dtype=torch.int64), min(gaps)


def pick_prompt(forward, cfg, w, seed):
    """Deterministically draw prompts until one gives a greedy run with a clear argmax margin at every step and
    more than one distinct generated token, so a float32 re-implementation picks the same tokens."""
    g = torch.Generator().manual_seed(seed)
    for attempt in range(1000):
        prompt = torch.randint(0, VOCAB, (PROMPT,), generator=g, dtype=torch.int64)
        toks, gap = greedy(forward, cfg, w, prompt)
        if gap > MIN_GREEDY_GAP and len(set(toks.tolist())) > 1:
            return prompt, toks, gap, attempt
    raise RuntimeError("no prompt with a clear greedy margin found")


def real_positions_maxdiff(a, b, mask):
    sel = mask.bool()
    return float((a[sel] - b[sel]).abs().max())


def sanity(name, forward, cfg, w, ids, mask, logits):
    assert torch.isfinite(logits).all(), name
    scale = float(logits[mask.bool()].std())
    print(f"  logits std over real positions {scale:.4f}, max |logit| {float(logits.abs().max()):.4f}")
    # padding: the real positions of the padded row must equal an unpadded forward of that prefix
    n = int(mask[1].sum())
    solo = forward(cfg, w, ids[1:2, :n], torch.ones((1, n), dtype=torch.int64))
    print(f"  padded row vs unpadded prefix, max |diff| {float((solo[0] - logits[1, :n]).abs().max()):.2e}")
    nomask = forward(cfg, w, ids, mask, {"no_pad_mask": True})
    print(f"  ignoring the padding mask changes pad-position logits by "
          f"{float((nomask[1, n:] - logits[1, n:]).abs().max()):.2e} (real positions: "
          f"{real_positions_maxdiff(nomask, logits, mask):.2e}, causal so expected 0)")
    variants = []
    if cfg["model_type"] == "gpt2":
        variants.append(("exact erf GELU instead of gelu_new", {"act": F.gelu}))
    else:
        if cfg.get("rope_scaling"):
            variants.append(("rope scaling disabled", {"no_rope_scaling": True}))
        variants.append(("interleaved (GPT-J) RoPE instead of rotate_half", {"interleaved_rope": True}))
        if cfg["num_key_value_heads"] not in (1, cfg["num_attention_heads"]):
            variants.append(("GQA heads tiled instead of repeat_kv", {"tile_kv": True}))
        if any(k.endswith(".bias") for k in w):
            variants.append(("q/k/v biases dropped", {"no_bias": True}))
    for label, opts in variants:
        alt = forward(cfg, w, ids, mask, opts)
        print(f"  {label}: max |diff| over real positions {real_positions_maxdiff(alt, logits, mask):.2e}")
    # norm weights
    w1 = {k: (torch.ones_like(t) if ("norm" in k or ".ln_" in k) and k.endswith("weight") else t)
          for k, t in w.items()}
    alt = forward(cfg, w1, ids, mask)
    print(f"  norm weights set to 1: max |diff| over real positions {real_positions_maxdiff(alt, logits, mask):.2e}")


def build(name, cfg, w, forward, seed):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    write_config(os.path.join(d, "config.json"), cfg)
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    ids, mask = make_batch(seed + 1, cfg["eos_token_id"])
    with torch.no_grad():
        logits = forward(cfg, w, ids, mask)
        prompt, toks, gap, attempt = pick_prompt(forward, cfg, w, seed + 2)
    write_safetensors(os.path.join(d, "expected.safetensors"),
                      {"input_ids": ids, "attention_mask": mask, "logits": logits, "prompt": prompt,
                       "greedy": toks})
    # round-trip check with an independent reader
    back = read_safetensors(os.path.join(d, "model.safetensors"))
    assert set(back) == set(w) and all(torch.equal(back[k], w[k]) for k in w), name
    exp = read_safetensors(os.path.join(d, "expected.safetensors"))
    assert torch.equal(exp["logits"], logits) and torch.equal(exp["greedy"], toks), name
    print(f"{name}: prompt {prompt.tolist()} -> greedy {toks.tolist()} (min top-2 gap {gap:.4f}, "
          f"prompt draw #{attempt})")
    with torch.no_grad():
        sanity(name, forward, cfg, w, ids, mask, logits)


def main():
    models = [
        ("gpt2-tiny", gpt2_config(), gpt2_forward, lambda c: gpt2_weights(c, 1000)),
        ("llama-tiny", llama_config(), llama_forward, lambda c: llama_weights(c, 2000, qkv_bias=False)),
        ("qwen2-tiny", qwen2_config(), llama_forward, lambda c: llama_weights(c, 3000, qkv_bias=True)),
        ("mistral-tiny", mistral_config(), llama_forward, lambda c: llama_weights(c, 4000, qkv_bias=False)),
    ]
    only = set(sys.argv[1:])
    for i, (name, cfg, forward, weights) in enumerate(models):
        if only and name not in only:
            continue
        build(name, cfg, weights(cfg), forward, 1000 * (i + 1) + 7)
    if not only:
        inv, _ = rope_inv_freq(llama_config())
        inv0, _ = rope_inv_freq(llama_config(), ignore_scaling=True)
        print("llama3 inv_freq scaled/unscaled per pair:", [round(float(x), 5) for x in inv / inv0])


if __name__ == "__main__":
    main()
