"""Checks by hand that PyTorch loads a model file written by Ember:

    EMBER_EXPORT_DIR=/tmp/ember-export swift test --filter SerializationTests.testExportForPyTorchCheck
    /tmp/pytorch-reference/venv/bin/python scripts/check_ember_file.py /tmp/ember-export

Loads ember_model.safetensors into the seed's NeuralNetwork with load_state_dict(strict=True)
and compares PyTorch's logits for ember_io.safetensors' x with the logits Ember computed.
"""
import sys
import torch
from torch import nn
from safetensors.torch import load_file


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


d = sys.argv[1]
model = NeuralNetwork()
result = model.load_state_dict(load_file(f"{d}/ember_model.safetensors"), strict=True)
print("load_state_dict(strict=True):", result)
io = load_file(f"{d}/ember_io.safetensors")
with torch.no_grad():
    logits = model(io["x"])
diff = (logits - io["logits"]).abs().max().item()
print("max |PyTorch - Ember| logits:", diff)
assert diff < 1e-5, diff
print("OK")
