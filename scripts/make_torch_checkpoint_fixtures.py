"""Writes Tests/EmberTests/Fixtures/torch/: torch.save files made by PyTorch, and hostile
files made by hand, for TorchCheckpointTests. Run from the repo root with the PyTorch
reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_torch_checkpoint_fixtures.py

Made by torch.save (the expected values go to expected.json / io.safetensors):
- tiny_mlp.pth: the seed's NeuralNetwork shrunk to 12→8→8→3 (as scripts/make_fixtures.py).
- bn_net.pth: Conv2d + BatchNorm2d (running statistics after 3 training steps) + Linear.
- views.pth (top folder "archive", saved through a file object): one storage seen as a
  matrix, its transpose, a row, a slice and a column; another storage with an offset.
- dtypes.pth: one tensor per storage type (pickle protocol 4: STACK_GLOBAL, FRAME, MEMOIZE).
- training.pth: {"model", "optimizer" (Adam after 2 steps), "epoch", ...} with every
  non-tensor type the weights-only unpickler allows (pickle protocol 5).
- dataparallel.pth / compiled.pth: DataParallel's `module.` and torch.compile's `_orig_mod.`.
- legacy.pth (_use_new_zipfile_serialization=False), torchscript.pt (torch.jit.save).
- io.safetensors: inputs and PyTorch's logits for tiny_mlp and bn_net.

Hostile (each must be a clear error, nothing run, memory bounded):
- os_system.pth: REDUCE of os.system('touch /tmp/ember_torch_pwned_os').
- exec.pth: builtins.exec of code creating /tmp/ember_torch_pwned_exec.
- unknown_global.pth: a GLOBAL of a module that does not exist.
- deep.pth: 100000 nested tuples.
- offset_past_end.pth: a tensor whose offset + size runs past its storage.
- short_record.pth: a storage claiming more elements than its record holds.
- huge_tensor.pth: a 2^40-element tensor on a 2^40-element storage.
- zip_bomb.pth: a 64 MiB storage deflated into a few KB; zip_bomb_pickle.pth: a 32 MiB data.pkl.
"""
import io
import json
import os
import pickle
import struct
import zipfile

import torch
from torch import nn
from safetensors.torch import save_file

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures", "torch")
os.makedirs(out, exist_ok=True)
expected = {}
io_tensors = {}


def path(name):
    return os.path.join(out, name)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


# The seed's model.
torch.manual_seed(0)
mlp = NeuralNetwork()
torch.save(mlp.state_dict(), path("tiny_mlp.pth"))
x = torch.randn(2, 3, 4)
with torch.no_grad():
    io_tensors["mlp_x"] = x
    io_tensors["mlp_logits"] = mlp(x)

# BatchNorm with running statistics.
torch.manual_seed(1)
bn = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
opt = torch.optim.SGD(bn.parameters(), lr=0.1)
for _ in range(3):
    loss = nn.functional.cross_entropy(bn(torch.randn(4, 1, 6, 6)), torch.tensor([0, 1, 2, 3]))
    opt.zero_grad()
    loss.backward()
    opt.step()
bn.eval()
torch.save(bn.state_dict(), path("bn_net.pth"))
bx = torch.randn(2, 1, 6, 6)
with torch.no_grad():
    io_tensors["bn_x"] = bx
    io_tensors["bn_logits"] = bn(bx)
expected["bn_num_batches_tracked"] = int(bn[1].num_batches_tracked)
expected["bn_running_mean"] = bn[1].running_mean.tolist()

# Views of shared storages, saved through a file object (top folder "archive").
base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4
other = torch.arange(10, dtype=torch.int64) * 3
views = {"base": base, "t": base.t(), "row": base[1], "slice": base[1:, 2:], "col": base[:, 1],
         "tail": other[4:], "tail_2d": other[2:8].view(2, 3)}
buf = io.BytesIO()
torch.save(views, buf)
with open(path("views.pth"), "wb") as f:
    f.write(buf.getvalue())
expected["views"] = {k: {"shape": list(v.shape), "stride": list(v.stride()), "offset": v.storage_offset(),
                         "values": v.reshape(-1).tolist()} for k, v in views.items()}

# Every storage type.
dtypes = {
    "f32": torch.tensor([1.5, -2.25]),
    "f64": torch.tensor([[0.1, -3.0], [1e10, 2.5]], dtype=torch.float64),
    "f16": torch.tensor([1.0, -0.5, 65504.0, 6e-8], dtype=torch.float16),
    "bf16": torch.tensor([1.0, -2.5, 3.14159], dtype=torch.bfloat16),
    "i64": torch.tensor([-(1 << 40), 7]),
    "i32": torch.tensor([-5, 2**31 - 1], dtype=torch.int32),
    "i16": torch.tensor([-32768, 12], dtype=torch.int16),
    "i8": torch.tensor([-128, 127, 3], dtype=torch.int8),
    "u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(3.0),
    "empty": torch.zeros(0, 4),
}
torch.save(dtypes, path("dtypes.pth"), pickle_protocol=4)
expected["dtypes"] = {k: {"shape": list(v.shape), "values": v.reshape(-1).double().tolist()} for k, v in dtypes.items()}

# A training checkpoint.
torch.manual_seed(2)
model = NeuralNetwork()
adam = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.99))
for _ in range(2):
    loss = nn.functional.cross_entropy(model(torch.randn(4, 12)), torch.tensor([0, 1, 2, 0]))
    adam.zero_grad()
    loss.backward()
    adam.step()
ckpt = {"model": model.state_dict(), "optimizer": adam.state_dict(), "epoch": 3, "loss": loss.item(),
        "name": "tiny", "flags": [True, False, None], "shape": torch.Size([2, 3]), "dtype": torch.float16,
        "device": torch.device("cpu"), "blob": b"\x00\x01ember", "ids": {1, 2}, "big": 2**70, "neg": -(2**40)}
torch.save(ckpt, path("training.pth"), pickle_protocol=5)
expected["training"] = {
    "loss": loss.item(),
    "exp_avg_0": adam.state_dict()["state"][0]["exp_avg"].reshape(-1).tolist(),
    "step": float(adam.state_dict()["state"][0]["step"]),
    "lr": 0.01,
    "fc0_weight": model.linear_relu_stack[0].weight.reshape(-1).tolist(),
}

# Wrapper prefixes.
torch.save(nn.DataParallel(mlp).state_dict(), path("dataparallel.pth"))
torch.save(torch.compile(nn.DataParallel(mlp)).state_dict(), path("compiled.pth"))

# Formats Ember refuses with advice.
torch.save(mlp.state_dict(), path("legacy.pth"), _use_new_zipfile_serialization=False)
torch.jit.save(torch.jit.script(mlp), path("torchscript.pt"))

save_file({k: v.contiguous() for k, v in io_tensors.items()}, path("io.safetensors"))
with open(path("expected.json"), "w") as f:
    json.dump(expected, f, indent=1)


# Hostile files: a torch.save zip around hand-written pickles.
def zip_with(name, pickle_bytes, records=(), compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path(name), "w", compression=compress) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, data in records:
            z.writestr("archive/data/" + key, data)
        z.writestr("archive/version", "3\n")


def s(text):  # SHORT_BINUNICODE
    b = text.encode()
    return b"\x8c" + bytes([len(b)]) + b


def tensor_pickle(numel, offset, size, stride, storage_type=b"FloatStorage"):
    """_rebuild_tensor_v2 of ('storage', torch.<type>, '0', 'cpu', numel) as protocol 2."""
    def ints(vals):
        return b"(" + b"".join(b"\x8a\x08" + struct.pack("<q", v) for v in vals) + b"t"
    pid = b"(" + s("storage") + b"ctorch\n" + storage_type + b"\n" + s("0") + s("cpu") + b"\x8a\x08" + struct.pack("<q", numel) + b"tQ"
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"\x8a\x08" + struct.pack("<q", offset)
            + ints(size) + ints(stride) + b"\x89ccollections\nOrderedDict\n)Rtq\x00R.")


zip_with("os_system.pth", b"\x80\x02cos\nsystem\nX\x1f\x00\x00\x00touch /tmp/ember_torch_pwned_os\x85R.")
code = b"open('/tmp/ember_torch_pwned_exec', 'w').write('x')"
zip_with("exec.pth", b"\x80\x02cbuiltins\nexec\nX" + struct.pack("<I", len(code)) + code + b"\x85R.")
zip_with("unknown_global.pth", b"\x80\x02cember_evil_module\ndo_harm\n)R.")
zip_with("deep.pth", b"\x80\x02N" + b"\x85" * 100000 + b".", compress=zipfile.ZIP_DEFLATED)
zip_with("offset_past_end.pth", tensor_pickle(6, 4, [2, 2], [2, 1]), [("0", b"\x00" * 24)])
zip_with("short_record.pth", tensor_pickle(100, 0, [100], [1]), [("0", b"\x00" * 8)])
zip_with("huge_tensor.pth", tensor_pickle(1 << 40, 0, [1 << 40], [1]), [("0", b"\x00" * 64)])
zip_with("zip_bomb.pth", tensor_pickle(16 << 20, 0, [16 << 20], [1]), [("0", bytes(64 << 20))],
         compress=zipfile.ZIP_DEFLATED)
zip_with("zip_bomb_pickle.pth", b"\x80\x02N" + b"0N" * (16 << 20) + b".", compress=zipfile.ZIP_DEFLATED)

for name in sorted(os.listdir(out)):
    print(f"{os.path.getsize(path(name)):>9}  {name}")
print("bn logits", io_tensors["bn_logits"][0].tolist())
print("mlp logits", io_tensors["mlp_logits"][0].tolist())
