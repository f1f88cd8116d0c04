"""Writes Tests/EmberTests/Fixtures/losses.json: PyTorch's elementwise losses (l1_loss,
smooth_l1_loss, huber_loss, binary_cross_entropy, binary_cross_entropy_with_logits, kl_div)
and their nn modules' reprs. Each case: the loss for reduction 'none', 'sum' and 'mean' (and
'batchmean' for kl_div), and the input's gradient of L = sum(loss_none * g) and of the others. Run from the repo root with the PyTorch
reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_loss_fixtures.py

The inputs put differences on both sides of beta / delta and at 0, probabilities at 0 and 1
(where BCE's logs are clamped at -100) and logits of +-60 (where a naive sigmoid overflows).
"""
import json
import torch
import torch.nn as nn
import torch.nn.functional as F


def flat(t):
    return t.detach().reshape(-1).double().tolist()


shape = [3, 4]
x = torch.tensor([[-2.0, -0.6, -0.2, 0.0], [0.05, 0.4, 0.9, 1.3], [2.5, -3.1, 0.7, -0.05]])
t = torch.tensor([[0.0, 0.0, 0.3, 0.0], [0.5, -0.5, 1.0, 1.0], [0.0, -1.0, 0.2, 0.45]])
g = torch.linspace(0.5, 1.5, 12).reshape(shape)
probs = torch.tensor([[0.0, 0.1, 0.5, 1.0], [0.3, 0.999, 0.001, 0.7], [0.25, 0.5, 0.9, 0.6]])
labels = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.2], [1.0, 1.0, 0.0, 0.0]])
logits = torch.tensor([[-60.0, -3.0, -0.5, 0.0], [0.5, 2.0, 60.0, -1.5], [4.0, -4.0, 0.25, 1.0]])
weight = torch.tensor([0.5, 1.0, 2.0, 1.5])
pos_weight = torch.tensor([1.0, 3.0, 0.5, 2.0])

cases = []


def add(name, fn, inp, tgt, reductions=("none", "sum", "mean"), **kw):
    out = {"name": name, "input": flat(inp), "target": flat(tgt)}
    for red in reductions:
        xi = inp.clone().requires_grad_(True)
        loss = fn(xi, tgt, reduction=red, **kw)
        out[red] = flat(loss)
        (loss * g).sum().backward() if red == "none" else loss.backward()
        out["grad_" + red] = flat(xi.grad)
    cases.append(out)


add("l1", F.l1_loss, x, t)
add("smooth_l1", F.smooth_l1_loss, x, t)
add("smooth_l1_beta_0.5", F.smooth_l1_loss, x, t, beta=0.5)
add("smooth_l1_beta_0", F.smooth_l1_loss, x, t, beta=0.0)
add("huber", F.huber_loss, x, t)
add("huber_delta_0.5", F.huber_loss, x, t, delta=0.5)
add("bce", F.binary_cross_entropy, probs, labels)
add("bce_weight", F.binary_cross_entropy, probs, labels, weight=weight)
add("bce_logits", F.binary_cross_entropy_with_logits, logits, labels)
add("bce_logits_weights", F.binary_cross_entropy_with_logits, logits, labels, weight=weight,
    pos_weight=pos_weight)

log_probs = torch.log_softmax(x, dim=1)
dist = torch.softmax(t * 3, dim=1)
dist[0, 1] = 0.0   # a zero target: its term is 0
dist = dist / dist.sum(dim=1, keepdim=True)
kl_reductions = ("none", "sum", "mean", "batchmean")
add("kl_div", F.kl_div, log_probs, dist, reductions=kl_reductions)
add("kl_div_log_target", F.kl_div, log_probs, torch.log_softmax(t * 3, dim=1), reductions=kl_reductions,
    log_target=True)

reprs = [repr(m) for m in [nn.L1Loss(), nn.SmoothL1Loss(), nn.HuberLoss(), nn.BCELoss(), nn.BCEWithLogitsLoss(),
                           nn.KLDivLoss()]]
out = {"torch": torch.__version__, "shape": shape, "g": flat(g), "weight": flat(weight),
       "pos_weight": flat(pos_weight), "cases": cases, "reprs": reprs}
with open("Tests/EmberTests/Fixtures/losses.json", "w") as f:
    json.dump(out, f, indent=1)
print(f"wrote {len(cases)} cases")
