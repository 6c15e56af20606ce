#!/usr/bin/python3
"""Generate tiny PyTorch oracle fixtures for lora4j's convolution, pooling, batch norm and LSTM code.

Writes src/test/resources/fixtures/conv-lstm/*.safetensors, each holding the inputs, the weights (under
torch's names), the forward output and, where useful, the gradients of loss = sum(out * probe).

Rerun:  apt-get install -y python3-torch && /usr/bin/python3 tools/make_conv_lstm_fixtures.py
CI does not run this script; the outputs are committed.
"""

import json
import os
import struct

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "conv-lstm")

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)


def write_safetensors(path, tensors):
    """safetensors: 8-byte LE header size, JSON header padded with spaces to 8 bytes, then the F32 data."""
    names = sorted(tensors)
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for n in names:
        t = tensors[n].detach().contiguous()
        if t.dtype == torch.int64:
            dtype, data = "I64", t.numpy().astype("<i8").tobytes()
        else:
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        header[n] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def with_grads(out, leaves, gen):
    probe = torch.randn(out.shape, generator=gen)
    (out * probe).sum().backward()
    res = {"probe": probe}
    for name, leaf in leaves.items():
        res["grad_" + name] = leaf.grad
    return res


def conv2d_case(name, gen, x_shape, w_shape, bias, stride, padding, dilation):
    x = torch.randn(x_shape, generator=gen).requires_grad_()
    w = (torch.randn(w_shape, generator=gen) * 0.5).requires_grad_()
    b = torch.randn(w_shape[0], generator=gen).requires_grad_() if bias else None
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    t = {"x": x, "weight": w, "y": y,
         "geometry": torch.tensor(list(stride) + list(padding) + list(dilation), dtype=torch.float32)}
    leaves = {"x": x, "weight": w}
    if bias:
        t["bias"] = b
        leaves["bias"] = b
    t.update(with_grads(y, leaves, gen))
    write_safetensors(os.path.join(OUT, name + ".safetensors"), t)


def conv1d_case(gen):
    x = torch.randn(2, 3, 9, generator=gen)
    w = torch.randn(4, 3, 3, generator=gen) * 0.5
    b = torch.randn(4, generator=gen)
    y = F.conv1d(x, w, b, stride=2, padding=1, dilation=2)
    write_safetensors(os.path.join(OUT, "conv1d.safetensors"), {"x": x, "weight": w, "bias": b, "y": y})


def pooling_case(gen):
    x = torch.randn(2, 2, 7, 7, generator=gen)
    write_safetensors(os.path.join(OUT, "pooling.safetensors"), {
        "x": x,
        "max_k3_s2_p1": F.max_pool2d(x, 3, 2, 1),
        "avg_k2_s2_p1": F.avg_pool2d(x, 2, 2, 1),  # count_include_pad=True, torch's default
    })


def batchnorm_case(gen):
    bn = torch.nn.BatchNorm2d(4, momentum=0.1, eps=1e-5)
    with torch.no_grad():
        bn.weight.copy_(1 + 0.3 * torch.randn(4, generator=gen))
        bn.bias.copy_(0.3 * torch.randn(4, generator=gen))
        bn.running_mean.copy_(0.2 * torch.randn(4, generator=gen))
        bn.running_var.copy_(1 + 0.5 * torch.rand(4, generator=gen))
    t = {"weight": bn.weight.clone(), "bias": bn.bias.clone(),
         "running_mean_before": bn.running_mean.clone(), "running_var_before": bn.running_var.clone()}
    x = 2 * torch.randn(3, 4, 2, 3, generator=gen) + 0.5
    bn.train()
    t["x"] = x
    t["y_train"] = bn(x)
    t["running_mean_after"] = bn.running_mean.clone()
    t["running_var_after"] = bn.running_var.clone()
    bn.eval()
    t["y_eval"] = bn(x)
    write_safetensors(os.path.join(OUT, "batchnorm.safetensors"), {k: v.detach() for k, v in t.items()})


def lstm_case(gen):
    torch.manual_seed(7)
    lstm = torch.nn.LSTM(input_size=5, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 6, 5, generator=gen).requires_grad_()
    y, _ = lstm(x)
    t = {"lstm." + k: v for k, v in lstm.state_dict().items()}
    t["x"] = x
    t["y"] = y
    leaves = {"x": x, "weight_hh_l0": lstm.weight_hh_l0, "weight_ih_l1_reverse": lstm.weight_ih_l1_reverse,
              "bias_hh_l1": lstm.bias_hh_l1}
    t.update(with_grads(y, leaves, gen))
    write_safetensors(os.path.join(OUT, "lstm.safetensors"), {k: v.detach() for k, v in t.items()})


class BasicBlock(torch.nn.Module):
    """torchvision.models.resnet.BasicBlock, written out (torchvision is not packaged for this Python)."""

    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(out)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or inp != out:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(inp, out, 1, stride, bias=False), torch.nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(torch.nn.Module):
    """torchvision.models.resnet.ResNet's layout and names with BasicBlock, widths and stages configurable."""

    def __init__(self, in_ch, stem_kernel, stem_stride, stem_pool, widths, blocks, classes):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_ch, widths[0], stem_kernel, stem_stride, stem_kernel // 2, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(widths[0])
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1) if stem_pool else torch.nn.Identity()
        inp = widths[0]
        for s, (w, n) in enumerate(zip(widths, blocks)):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(inp, w, 2 if s > 0 and b == 0 else 1))
                inp = w
            setattr(self, "layer%d" % (s + 1), torch.nn.Sequential(*layer))
        self.stages = len(widths)
        self.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.fc = torch.nn.Linear(inp, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for s in range(self.stages):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_case(gen):
    torch.manual_seed(11)
    net = ResNet(3, 7, 2, True, [4, 8], [2, 1], 5)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(1 + 0.3 * torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(17)
    net.eval()
    x = torch.randn(2, 3, 16, 16, generator=gen)
    write_safetensors(os.path.join(OUT, "resnet_tiny.safetensors"), dict(net.state_dict()))
    write_safetensors(os.path.join(OUT, "resnet_tiny_io.safetensors"), {"x": x, "logits": net(x).detach()})
    # The names and shapes of resnet18's state_dict (the layout a torchvision checkpoint has), without weights.
    r18 = ResNet(3, 7, 2, True, [64, 128, 256, 512], [2, 2, 2, 2], 1000)
    with open(os.path.join(OUT, "resnet18_state_dict_shapes.json"), "w") as f:
        rows = ['  [%s, %s]' % (json.dumps(k), json.dumps(list(v.shape))) for k, v in r18.state_dict().items()]
        f.write('{"parameters": %d,\n "state_dict": [\n%s\n]}\n' % (sum(p.numel() for p in r18.parameters()), ",\n".join(rows)))


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    conv2d_case("conv2d_strided", gen, (2, 3, 7, 6), (4, 3, 3, 2), True, (2, 1), (1, 2), (1, 2))
    conv2d_case("conv2d_dilated", gen, (1, 2, 6, 5), (3, 2, 3, 3), False, (1, 1), (0, 0), (2, 1))
    conv1d_case(gen)
    pooling_case(gen)
    batchnorm_case(gen)
    lstm_case(gen)
    resnet_case(gen)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
