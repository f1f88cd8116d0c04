"""Writes Tests/EmberTests/Fixtures/activation_layers.json: PyTorch's activation modules
(nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.Softplus,
nn.Hardtanh, nn.ReLU6, nn.Hardsigmoid, nn.Hardswish, nn.LogSigmoid, nn.SELU, nn.CELU,
nn.Softsign, nn.GLU, nn.PReLU) with default and non-default arguments: how each prints
(repr), its output on a fixed input and the gradients of L = sum(out * g), g of the output's
shape (for PReLU also its weight's). Run from the repo root with the PyTorch reference
(shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_activation_layer_fixtures.py

The input spans both signs, zero, the bends of LeakyReLU/ELU/Hardtanh/Hardswish (not exactly
on them) and the region where Softplus turns linear (beta * x > threshold).
"""
import json
import torch
import torch.nn as nn

x = torch.tensor([[-6.0, -2.5, -1.0, -0.3, 0.0, 0.2],
                  [0.7, 1.0, 1.5, 2.4, 4.0, 12.0]], dtype=torch.float32)

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
    ("relu6", nn.ReLU6()),
    ("hardsigmoid", nn.Hardsigmoid()),
    ("hardswish", nn.Hardswish()),
    ("logsigmoid", nn.LogSigmoid()),
    ("selu", nn.SELU()),
    ("celu", nn.CELU()),
    ("celu_0.5", nn.CELU(alpha=0.5)),
    ("softsign", nn.Softsign()),
    ("glu", nn.GLU()),
    ("glu_0", nn.GLU(dim=0)),
    ("prelu", nn.PReLU()),
    ("prelu_6", nn.PReLU(num_parameters=6, init=0.1)),
]

cases = []
for name, m in modules:
    xi = x.clone().requires_grad_(True)
    y = m(xi)
    g = torch.linspace(0.5, 1.5, y.numel()).reshape(y.shape)
    (y * g).sum().backward()
    case = {
        "name": name,
        "repr": repr(m),
        "shape": list(y.shape),
        "g": g.reshape(-1).double().tolist(),
        "y": y.detach().reshape(-1).double().tolist(),
        "dx": xi.grad.reshape(-1).double().tolist(),
    }
    if isinstance(m, nn.PReLU):
        case["dweight"] = m.weight.grad.reshape(-1).double().tolist()
    cases.append(case)

out = {"torch": torch.__version__, "shape": list(x.shape), "x": x.reshape(-1).double().tolist(), "cases": cases}
with open("Tests/EmberTests/Fixtures/activation_layers.json", "w") as f:
    json.dump(out, f, indent=1)
print(f"wrote {len(cases)} cases")
