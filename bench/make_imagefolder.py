"""Generates the ImageFolder benchmark's images (not committed): `count` 256x256 RGB JPEGs
(quality 90, PIL's 4:2:0) in `classes` class folders, smooth colour fields plus noise so they
compress like photographs rather than flat tiles. Deterministic for a given seed.

    /tmp/pytorch-reference/venv/bin/python bench/make_imagefolder.py --root /tmp/ember-imagefolder --count 10000
"""
import argparse
import os

import numpy as np
from PIL import Image


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="/tmp/ember-imagefolder")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    s = args.size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    for i in range(args.count):
        c = i % args.classes
        d = os.path.join(args.root, f"class{c:02d}")
        os.makedirs(d, exist_ok=True)
        f = rng.uniform(1, 6, size=(3, 2))
        ph = rng.uniform(0, 6.28, size=3)
        planes = [127 + 100 * np.sin(f[k, 0] * 6.28 * xx + f[k, 1] * 6.28 * yy + ph[k]) for k in range(3)]
        img = np.stack(planes, axis=-1) + rng.normal(0, 12, size=(s, s, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
    print(f"wrote {args.count} {s}x{s} JPEGs in {args.classes} classes to {args.root}")


if __name__ == "__main__":
    main()
