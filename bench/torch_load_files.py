"""Writes the files of `ember-bench torch-load` and times PyTorch's own readers on them:

    /tmp/pytorch-reference/venv/bin/python bench/torch_load_files.py /tmp/ember-torch-load

state_dict.pth (torch.save) and state_dict.safetensors hold the same ~100 MB of float32
tensors: a stack of 1024×1024 linear layers with biases, plus BatchNorm buffers (int64).
Then torch.load(weights_only=True) and safetensors.torch.load_file alternate for 7 rounds
(median, min–max in ms), reading only, as Ember's side does.
"""
import os
import sys
import time

import torch
from safetensors.torch import load_file, save_file

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ember-torch-load"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
sd = {}
for i in range(24):
    sd[f"layers.{i}.weight"] = torch.randn(1024, 1024)
    sd[f"layers.{i}.bias"] = torch.randn(1024)
    sd[f"norms.{i}.running_mean"] = torch.randn(1024)
    sd[f"norms.{i}.num_batches_tracked"] = torch.tensor(i)
pth, st = os.path.join(out, "state_dict.pth"), os.path.join(out, "state_dict.safetensors")
torch.save(sd, pth)
save_file(sd, st)
print(f"{pth}: {os.path.getsize(pth) / 1e6:.1f} MB, {st}: {os.path.getsize(st) / 1e6:.1f} MB")

torch.set_num_threads(1)
times = {"torch.load": [], "load_file": []}
for _ in range(7):
    t0 = time.perf_counter()
    torch.load(pth, weights_only=True)
    times["torch.load"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    load_file(st)
    times["load_file"].append(time.perf_counter() - t0)
for k, v in times.items():
    v = sorted(x * 1e3 for x in v)
    print(f"PyTorch {k}: {v[len(v) // 2]:.1f} ms ({v[0]:.1f}–{v[-1]:.1f})")
