"""Writes the fixture of ResizeUInt8Tests.swift: torchvision.transforms.v2's bilinear resize
of uint8 images, which on the CPU runs PyTorch's int16 fixed-point kernel (the bits that
csrc/resample.c's uint8 path reproduces). Run from the repo root with the PyTorch
reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_resize_fixtures.py

Tests/EmberTests/Fixtures/vision/resize_uint8.json
  {"torch": version, "torchvision": version, "cases": [{"name", "shape" (the input's,
  [C, H, W] or [N, C, H, W]), "size" ([OH, OW]), "antialias", "input" and "output" (the
  uint8 values, flattened in row-major order)}]}

Images are small (the fixture is about 75 KB): seeded noise with saturated patches (0 and 255,
so that rounding near the ends is exercised) over a gradient. Up and down sampling, with
and without antialias, a case where only the width and one where only the height
changes, and a batched 4-D input. Channels stay at most 4: PyTorch's uint8 kernel for more
channels (the generic separable one) gives the same bits except for its known misbehaviour
on width-1 images, which no case here touches.
"""
import json
import os

import numpy as np
import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

out = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures", "vision"))
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(2024)


def image(shape):
    """Gradient plus noise, with a few saturated patches."""
    *lead, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = (xx * 255 // max(1, w - 1) + yy * 97 // max(1, h - 1)) % 256
    a = base + rng.integers(-60, 61, size=tuple(shape))
    a = np.clip(a, 0, 255).astype(np.uint8)
    flat = a.reshape(-1, h, w)
    for p in flat:
        for value in (0, 255):
            r, c = int(rng.integers(0, h)), int(rng.integers(0, w))
            p[r:r + max(1, h // 4), c:c + max(1, w // 4)] = value
    return a


# (name, input shape, output size, antialias)
specs = [
    ("down_aa", [3, 23, 31], [11, 13], True),
    ("down_noaa", [3, 23, 31], [11, 13], False),
    ("up_aa", [3, 9, 11], [20, 27], True),
    ("up_noaa", [3, 9, 11], [20, 27], False),
    ("mixed_aa", [1, 17, 23], [8, 40], True),
    ("mixed_noaa", [1, 17, 23], [8, 40], False),
    ("width_only_aa", [3, 16, 30], [16, 12], True),
    ("height_only_noaa", [2, 30, 16], [13, 16], False),
    ("batch_aa", [2, 3, 14, 12], [9, 7], True),
    ("strong_down_aa", [4, 40, 36], [5, 6], True),
]

cases = []
for name, shape, size, antialias in specs:
    x = image(shape)
    y = F.resize(torch.from_numpy(x), size, interpolation=InterpolationMode.BILINEAR, antialias=antialias)
    assert y.dtype == torch.uint8 and list(y.shape) == shape[:-2] + size, (name, y.shape)
    cases.append({"name": name, "shape": shape, "size": size, "antialias": antialias,
                  "input": x.reshape(-1).tolist(), "output": y.contiguous().reshape(-1).tolist()})

doc = {"torch": torch.__version__, "torchvision": torchvision.__version__, "cases": cases}
path = f"{out}/resize_uint8.json"
with open(path, "w") as f:
    f.write("{\n")
    f.write(f' "torch": {json.dumps(doc["torch"])},\n "torchvision": {json.dumps(doc["torchvision"])},\n "cases": [\n')
    for i, c in enumerate(cases):
        f.write("  " + json.dumps(c, separators=(",", ":")) + (",\n" if i + 1 < len(cases) else "\n"))
    f.write(" ]\n}\n")
print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(cases)} cases)")
