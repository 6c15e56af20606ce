#!/usr/bin/python3
"""Oracle data for lora4j's NF4 (QLoRA) and int8 quantization: src/test/resources/fixtures/quant/quant.safetensors.

A plain-PyTorch re-implementation of what bitsandbytes does on CPU (its "default" torch backend), since
bitsandbytes is not packaged in Debian:

  NF4, double-quantized   bitsandbytes.functional.quantize_4bit(A, blocksize=64, quant_type="nf4",
                          compress_statistics=True): absmax per block of 64, scaled = clamp(A * (1/absmax), -1, 1),
                          code = argmin |scaled - NF4|, two codes a byte (even element high nibble, odd count padded
                          with 0.0); offset = absmax.mean(), then quantize_blockwise(absmax - offset, blocksize=256)
                          with create_dynamic_map(signed=True) (argmin over the 256-value map).
  dequantize              absmax' = dynamic[qabsmax] * absmax2[block // 256] + offset; w' = NF4[code] * absmax'
  int8                    int8_vectorwise_quant: row_stats = max |A| per row, q = round(A * (127 / row_stats))

For each case NAME in (nf4_big [65, 260]: 265 blocks, 2 absmax blocks, a partial last block; nf4_odd [3, 43]: an odd
element count) the file holds NAME.weight F32, NAME.codes U8 (packed), NAME.qabsmax U8, NAME.absmax2 F32,
NAME.offset F32 [1], NAME.dequant F32; plus dynamic_map F32 [256], int8.weight F32 [9, 70], int8.codes I8,
int8.row_absmax F32, int8.dequant F32 (q * row_absmax / 127).

Rerun:  apt-get install -y python3-torch && /usr/bin/python3 tools/make_quant_fixtures.py
"""

import json
import os
import struct

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "quant", "quant.safetensors")

NF4 = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=torch.float32)


def dynamic_map():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)."""
    data = []
    for i in range(7):
        boundaries = torch.linspace(0.1, 1, 2 ** i + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    assert len(data) == 256
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def blockwise_absmax(x, blocksize):
    n = x.numel()
    pad = (-n) % blocksize
    padded = torch.cat([x, torch.zeros(pad, dtype=x.dtype)]).view(-1, blocksize)
    return padded.abs().max(dim=1)[0]


def scale_and_pick(x, absmax, blocksize, code):
    n = x.numel()
    scale = (1 / absmax).repeat_interleave(blocksize)[:n]
    scaled = torch.clamp(x * scale, -1, 1)
    return torch.argmin(torch.abs(scaled.view(-1, 1) - code.view(1, -1)), dim=1)


def nf4(weight):
    flat = weight.reshape(-1)
    absmax = blockwise_absmax(flat, 64)
    codes = scale_and_pick(flat, absmax, 64, NF4)
    if codes.numel() % 2:
        codes = torch.cat([codes, torch.tensor([7])])
    packed = (codes[::2] << 4 | codes[1::2]).to(torch.uint8)
    offset = absmax.mean()
    centred = absmax - offset
    dyn = dynamic_map()
    absmax2 = blockwise_absmax(centred, 256)
    qabsmax = scale_and_pick(centred, absmax2, 256, dyn).to(torch.uint8)
    absmax_dq = dyn[qabsmax.long()] * absmax2.repeat_interleave(256)[:absmax.numel()] + offset
    unpacked = torch.stack([packed.long() >> 4, packed.long() & 0xF], dim=1).reshape(-1)[:flat.numel()]
    dequant = NF4[unpacked] * absmax_dq.repeat_interleave(64)[:flat.numel()]
    return packed, qabsmax, absmax2, offset.reshape(1), dequant.reshape(weight.shape)


def int8(weight):
    row_absmax = weight.abs().max(dim=1)[0]
    q = torch.round(weight * (127.0 / row_absmax.unsqueeze(-1))).to(torch.int8)
    dequant = q.float() * (row_absmax.unsqueeze(-1) * (1.0 / 127))
    return q, row_absmax, dequant


def heavy_tailed(gen, rows, cols):
    w = torch.randn(rows, cols, generator=gen) * 0.05
    outliers = torch.rand(rows, cols, generator=gen) < 0.01
    return torch.where(outliers, w * 20, w)


_DTYPES = {torch.float32: ("F32", 4), torch.uint8: ("U8", 1), torch.int8: ("I8", 1)}


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype, size = _DTYPES[t.dtype]
        raw = t.numpy().tobytes()  # little-endian machine
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


def main():
    gen = torch.Generator().manual_seed(1234)
    out = {"dynamic_map": dynamic_map()}
    for name, (rows, cols) in {"nf4_big": (65, 260), "nf4_odd": (3, 43)}.items():
        w = heavy_tailed(gen, rows, cols)
        packed, qabsmax, absmax2, offset, dequant = nf4(w)
        out.update({name + ".weight": w, name + ".codes": packed, name + ".qabsmax": qabsmax,
                    name + ".absmax2": absmax2, name + ".offset": offset, name + ".dequant": dequant})
        err = (dequant - w).abs().max().item()
        print(f"{name}: {w.numel()} elements, {absmax2.numel()} absmax blocks, max |w' - w| {err:.4g}")
    w = heavy_tailed(gen, 9, 70)
    q, row_absmax, dequant = int8(w)
    out.update({"int8.weight": w, "int8.codes": q, "int8.row_absmax": row_absmax, "int8.dequant": dequant})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, out)
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
