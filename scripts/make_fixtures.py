"""Writes the PyTorch-made fixtures in Tests/EmberTests/Fixtures/ (run from the repo root):

    /tmp/pytorch-reference/venv/bin/python scripts/make_fixtures.py

- tiny_mlp.safetensors: the state_dict of the seed's NeuralNetwork architecture, shrunk to
  Flatten + Sequential(Linear(12, 8), ReLU, Linear(8, 8), ReLU, Linear(8, 3)), as saved by
  safetensors.torch.save_file. Same keys as the seed's model (linear_relu_stack.0.weight, ...).
- tiny_mlp_io.safetensors: an input x (2, 3, 4) and that model's logits for it, plus the
  cross-entropy loss; the Swift test loads the model, runs x and compares.
- dtypes.safetensors: one small tensor per dtype Ember reads (F32, F64, F16, BF16, I64, I32,
  U8, BOOL) with values listed in SerializationTests.
"""
import os
import torch
from torch import nn
from safetensors.torch import save_file

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


torch.manual_seed(0)
model = NeuralNetwork()
save_file(model.state_dict(), os.path.join(out, "tiny_mlp.safetensors"))
x = torch.randn(2, 3, 4)
y = torch.tensor([2, 0])
with torch.no_grad():
    logits = model(x)
    loss = nn.CrossEntropyLoss()(logits, y)
save_file({"x": x, "y": y, "logits": logits, "loss": loss.reshape(())},
          os.path.join(out, "tiny_mlp_io.safetensors"))
print("logits", logits.tolist(), "loss", loss.item())

save_file({
    "f32": torch.tensor([1.5, -2.25], dtype=torch.float32),
    "f64": torch.tensor([[0.1, -3.0], [1e10, 2.5]], dtype=torch.float64),
    "f16": torch.tensor([1.0, -0.5, 65504.0, 6e-8], dtype=torch.float16),
    "bf16": torch.tensor([1.0, -2.5, 3.140625], dtype=torch.bfloat16),
    "i64": torch.tensor([-(2**40), 7], dtype=torch.int64),
    "i32": torch.tensor([-5, 2**31 - 1], dtype=torch.int32),
    "u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(3.0),
}, os.path.join(out, "dtypes.safetensors"))
