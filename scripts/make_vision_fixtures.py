"""Writes the vision fixtures of VisionTests.swift: small PNG and JPEG files and what
torchvision makes of them, plus torchvision.transforms.v2's outputs on a fixed image. Run
from the repo root with the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_vision_fixtures.py

Tests/EmberTests/Fixtures/vision/
  *.png, *.jpg          images written by PIL from seeded numpy arrays (a few KB in all);
                        window*.jpg only for the window decode (compared with Ember's own)
  decoded.safetensors   "<file>/<mode>": torchvision.io.decode_image(file, mode), uint8
                        [C, H, W]; "<file>/pil_rgb": PIL's convert("RGB") as [3, H, W]
                        (ImageFolder's default loader)
  imagefolder.json      a class tree built from those files (the test rebuilds it) and
                        torchvision ImageFolder's classes, class_to_idx, samples and targets
  transforms.safetensors  "input_u8" [3, 12, 14] and "input_f32" (= input_u8 / 255), and
                        every deterministic transform's output under its case name;
                        "expand_angles"/"expand_sizes": rotate(expand=True)'s output sizes
"""
import json
import os
import shutil
import tempfile

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures", "vision")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def smooth(h, w, c):
    """Gradients plus noise: JPEG-friendly yet not flat."""
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [(xx * (7 + 5 * k) + yy * (11 - 3 * k) + 40 * k) % 256 for k in range(c)]
    a = np.stack(planes, axis=-1).astype(np.int32) + rng.integers(-20, 21, size=(h, w, c))
    return np.clip(a, 0, 255).astype(np.uint8)


files = {}
Image.fromarray(smooth(10, 13, 3), "RGB").save(f"{out}/rgb.png")
Image.fromarray(smooth(7, 9, 1)[:, :, 0], "L").save(f"{out}/gray.png")
Image.fromarray(smooth(6, 8, 4), "RGBA").save(f"{out}/rgba.png")
Image.fromarray(smooth(5, 7, 2), "LA").save(f"{out}/gray_alpha.png")
pal = Image.fromarray(smooth(5, 8, 3), "RGB").quantize(colors=6)
pal.info["transparency"] = 2
pal.save(f"{out}/palette.png", transparency=2)
Image.fromarray((smooth(6, 7, 1)[:, :, 0] > 128).astype(np.uint8) * 255, "L").convert("1").save(f"{out}/bilevel.png")
Image.fromarray(smooth(20, 24, 3), "RGB").save(f"{out}/rgb.jpg", quality=85)
Image.fromarray(smooth(12, 10, 1)[:, :, 0], "L").save(f"{out}/gray.jpg", quality=90)
Image.fromarray(smooth(17, 19, 3), "RGB").save(f"{out}/progressive.jpg", quality=80, progressive=True)
Image.fromarray(smooth(9, 11, 3), "RGB").save(f"{out}/rgb444.jpg", quality=95, subsampling=0)
names = ["rgb.png", "gray.png", "rgba.png", "gray_alpha.png", "palette.png", "bilevel.png",
         "rgb.jpg", "gray.jpg", "progressive.jpg", "rgb444.jpg"]

decoded = {}
modes = {"unchanged": ImageReadMode.UNCHANGED, "gray": ImageReadMode.GRAY, "gray_alpha": ImageReadMode.GRAY_ALPHA,
         "rgb": ImageReadMode.RGB, "rgb_alpha": ImageReadMode.RGB_ALPHA}
for n in names:
    data = read_file(f"{out}/{n}")
    for m, mode in modes.items():
        if m == "unchanged" and n == "palette.png":
            continue  # torchvision returns palette indices; Ember expands (documented)
        try:
            decoded[f"{n}/{m}"] = decode_image(data, mode=mode).contiguous()
        except RuntimeError:
            pass  # modes torchvision refuses for JPEG
    rgb = np.asarray(Image.open(f"{out}/{n}").convert("RGB"))
    decoded[f"{n}/pil_rgb"] = torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()
save_file(decoded, f"{out}/decoded.safetensors")

# An ImageFolder tree: class folders (one nested), a file with an upper-case extension, a
# file with another extension (skipped), an empty-named order trap ("B" sorts before "a").
tree = [("cat/b.png", "rgb.png"), ("cat/a.jpg", "rgb.jpg"), ("cat/nested/c.PNG", "gray.png"),
        ("B/z.jpg", "progressive.jpg"), ("dog/x.jpeg", "rgb444.jpg"), ("dog/notes.txt", None),
        ("dog/y.png", "rgba.png")]
tmp = tempfile.mkdtemp()
for rel, src in tree:
    os.makedirs(os.path.dirname(f"{tmp}/{rel}"), exist_ok=True)
    if src:
        shutil.copy(f"{out}/{src}", f"{tmp}/{rel}")
    else:
        open(f"{tmp}/{rel}", "w").write("not an image")
ds = torchvision.datasets.ImageFolder(tmp)  # IMG_EXTENSIONS: the tree holds only .jpg .jpeg .png .txt
folder = {"tree": [{"path": p, "source": s} for p, s in tree], "classes": ds.classes,
          "class_to_idx": ds.class_to_idx,
          "samples": [[os.path.relpath(p, tmp), t] for p, t in ds.samples], "targets": ds.targets}
shutil.rmtree(tmp)
json.dump(folder, open(f"{out}/imagefolder.json", "w"), indent=1)

# Transforms on a fixed [3, 12, 14] image.
x8 = torch.from_numpy(smooth(12, 14, 3)).permute(2, 0, 1).contiguous()
xf = x8.float() / 255
t = {"input_u8": x8, "input_f32": xf}
BIL, NEAR = InterpolationMode.BILINEAR, InterpolationMode.NEAREST
for name, x in (("u8", x8), ("f32", xf)):
    t[f"resize_down_aa_{name}"] = F.resize(x, [7, 9], interpolation=BIL, antialias=True)
    t[f"resize_down_noaa_{name}"] = F.resize(x, [7, 9], interpolation=BIL, antialias=False)
    t[f"resize_short_{name}"] = F.resize(x, [8], interpolation=BIL, antialias=True)
    t[f"resize_up_{name}"] = F.resize(x, [17, 21], interpolation=BIL, antialias=True)
    t[f"resize_mixed_{name}"] = F.resize(x, [5, 23], interpolation=BIL, antialias=True)
    t[f"resize_nearest_down_{name}"] = F.resize(x, [7, 9], interpolation=NEAR)
    t[f"resize_nearest_up_{name}"] = F.resize(x, [17, 21], interpolation=NEAR)
    t[f"center_crop_{name}"] = F.center_crop(x, [7, 9])
    t[f"center_crop_pad_{name}"] = F.center_crop(x, [15, 18])
    for mode in ("constant", "edge", "reflect", "symmetric"):
        t[f"pad_{mode}_{name}"] = F.pad(x, [1, 2, 3, 4], fill=0, padding_mode=mode)
    t[f"pad_fill_{name}"] = F.pad(x, [2], fill=7 if name == "u8" else 0.25)
    t[f"gray1_{name}"] = F.rgb_to_grayscale(x, num_output_channels=1)
    t[f"gray3_{name}"] = F.rgb_to_grayscale(x, num_output_channels=3)
    t[f"hflip_{name}"] = F.horizontal_flip(x)
    t[f"vflip_{name}"] = F.vertical_flip(x)
    t[f"resized_crop_{name}"] = F.resized_crop(x, 2, 3, 7, 8, [5, 6], interpolation=BIL, antialias=True)
    t[f"erase_{name}"] = F.erase(x, 2, 3, 4, 5, torch.zeros(3, 4, 5, dtype=x.dtype))
    t[f"brightness_{name}"] = F.adjust_brightness(x, 1.3)
    t[f"contrast_{name}"] = F.adjust_contrast(x, 0.6)
    t[f"saturation_{name}"] = F.adjust_saturation(x, 1.7)
    t[f"hue_{name}"] = F.adjust_hue(x, 0.2)
    t[f"rotate_nearest_{name}"] = F.rotate(x, 30.0, interpolation=NEAR)
    t[f"rotate_bilinear_{name}"] = F.rotate(x, -50.0, interpolation=BIL)
    t[f"rotate_expand_{name}"] = F.rotate(x, 30.0, interpolation=NEAR, expand=True)
    # RandomRotation passes its fill (default 0) on, which blends the bilinear edges with it.
    fill3 = [10, 200, 30] if name == "u8" else [0.1, 0.8, 0.3]
    t[f"rotate_fill0_bilinear_{name}"] = F.rotate(x, 33.5, interpolation=BIL, fill=0)
    t[f"rotate_fill3_bilinear_{name}"] = F.rotate(x, -71.25, interpolation=BIL, fill=fill3)
    t[f"rotate_fill3_nearest_{name}"] = F.rotate(x, 200.0, interpolation=NEAR, fill=fill3)
    t[f"rotate_center_{name}"] = F.rotate(x, 25.0, interpolation=BIL, center=[3.0, 4.5], fill=0)
    t[f"rotate_expand_bilinear_{name}"] = F.rotate(x, -130.0, interpolation=BIL, expand=True, fill=fill3)
    t[f"rotate_90_{name}"] = F.rotate(x, 90.0)
    t[f"rotate_90_expand_{name}"] = F.rotate(x, -270.0, expand=True)
    t[f"rotate_180_{name}"] = F.rotate(x, 540.0, fill=fill3)
t["normalize_f32"] = F.normalize(xf, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
t["to_dtype_scaled"] = F.to_dtype(x8, torch.float32, scale=True)
t["to_dtype_back"] = F.to_dtype(xf * 0.999, torch.uint8, scale=True)
# RandomRotation(expand=True)'s output sizes over many angles (float32 values) and image
# sizes: "expand_angles" and "expand_sizes" rows of (h, w, torchvision's output h, w).
from torchvision.transforms.v2.functional._geometry import _compute_affine_output_size, _get_inverse_affine_matrix
sizes = []
angles = torch.empty(200).uniform_(-360, 360, generator=torch.Generator().manual_seed(0)).tolist()
angles += [45.0, 135.0, -45.0, 30.0, 60.0, 2.0 ** -10]
for i, a in enumerate(angles):
    h, w = [(12, 14), (224, 224), (37, 101), (256, 171), (1, 9)][i % 5]
    m = _get_inverse_affine_matrix([0.0, 0.0], -(a % 360), [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = _compute_affine_output_size(m, w, h)
    sizes.append([h, w, oh, ow])
t["expand_angles"] = torch.tensor(angles, dtype=torch.float32)
t["expand_sizes"] = torch.tensor(sizes, dtype=torch.int32)
save_file({k: v.contiguous() for k, v in t.items()}, f"{out}/transforms.safetensors")
# Larger JPEGs for decoding a window alone (readImageWindow); last, so
# that the other fixtures' random draws stay as they were: 4:2:0 baseline and progressive,
# odd sizes so that windows end inside an MCU.
Image.fromarray(smooth(61, 83, 3), "RGB").save(f"{out}/window420.jpg", quality=90)
Image.fromarray(smooth(45, 70, 3), "RGB").save(f"{out}/window_progressive.jpg", quality=85, progressive=True)
total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
print(f"wrote {len(os.listdir(out))} files, {total} bytes, to {os.path.normpath(out)}")
