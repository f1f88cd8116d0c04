"""Writes Tests/EmberTests/Fixtures/activation_layers.json: PyTorch's activation modules
(nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.Softplus,
nn.Hardtanh) with default and non-default arguments: how each prints (repr), its output on
a fixed input and the input's gradient of L = sum(out * g). Run from the repo root with the
PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_activation_layer_fixtures.py

The input spans both signs, zero, the bends of LeakyReLU/ELU/Hardtanh and the region where
Softplus turns linear (beta * x > threshold).
"""
import json
import torch
import torch.nn as nn

x = torch.tensor([[-6.0, -2.5, -1.0, -0.3, 0.0, 0.2],
                  [0.7, 1.0, 1.5, 2.4, 4.0, 12.0]], dtype=torch.float32)
g = torch.linspace(0.5, 1.5, x.numel()).reshape(x.shape)

# name (ActivationLayerTests builds the same module for it) -> PyTorch module
modules = [
    ("gelu", nn.GELU()),
    ("gelu_tanh", nn.GELU(approximate="tanh")),
    ("silu", nn.SiLU()),
    ("mish", nn.Mish()),
    ("tanh", nn.Tanh()),
    ("sigmoid", nn.Sigmoid()),
    ("leaky_relu", nn.LeakyReLU()),
    ("leaky_relu_0.2", nn.LeakyReLU(negative_slope=0.2)),
    ("elu", nn.ELU()),
    ("elu_0.5", nn.ELU(alpha=0.5)),
    ("softplus", nn.Softplus()),
    ("softplus_2_3", nn.Softplus(beta=2.0, threshold=3.0)),
    ("hardtanh", nn.Hardtanh()),
    ("hardtanh_-2_3", nn.Hardtanh(min_val=-2.0, max_val=3.0)),
]

cases = []
for name, m in modules:
    xi = x.clone().requires_grad_(True)
    y = m(xi)
    (y * g).sum().backward()
    cases.append({
        "name": name,
        "repr": repr(m),
        "y": y.detach().reshape(-1).double().tolist(),
        "dx": xi.grad.reshape(-1).double().tolist(),
    })

out = {"torch": torch.__version__, "shape": list(x.shape), "x": x.reshape(-1).double().tolist(),
       "g": g.reshape(-1).double().tolist(), "cases": cases}
with open("Tests/EmberTests/Fixtures/activation_layers.json", "w") as f:
    json.dump(out, f, indent=1)
print(f"wrote {len(cases)} cases")
