"""Writes Tests/EmberTests/Fixtures/transformer_util.json: PyTorch's values for Ember's
embedding, gradient clipping, learning-rate schedulers and module containers. Run from the
repo root with the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_transformer_util_fixtures.py

- embedding: weight, indices, options; the output, the weight after the call (max_norm
  renormalises it in place) and the weight's gradient of L = sum(out * w).
- clip_grad_norm: gradients before, the returned total norm and the gradients after.
- schedulers: the lr (and momentum) after creation and after each step; the lambdas and the
  metric sequences are spelled out here and in SchedulerTests.swift.
- containers: state_dict keys and shapes of a model built from ModuleList and ModuleDict.
"""
import json
import math
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
out = {}


def flat(t):
    return t.detach().reshape(-1).double().tolist()


# MARK: embedding
emb = []


def add_embedding(name, weight, indices, **kw):
    w = weight.clone().requires_grad_(True)
    before = flat(w)
    y = F.embedding(indices, w, **kw)
    g = torch.linspace(0.5, 1.5, y.numel()).reshape(y.shape)
    (y * g).sum().backward()
    emb.append({
        "name": name,
        "weight_shape": list(weight.shape), "weight": before,
        "indices_shape": list(indices.shape), "indices": indices.reshape(-1).tolist(),
        "padding_idx": kw.get("padding_idx"), "max_norm": kw.get("max_norm"),
        "norm_type": str(kw.get("norm_type", 2.0)),   # "inf" (JSON has no infinity)
        "scale_grad_by_freq": kw.get("scale_grad_by_freq", False),
        "output_shape": list(y.shape), "output": flat(y),
        "weight_after": flat(w), "weights": flat(g), "grad": flat(w.grad),
    })


W = torch.randn(10, 4)
idx = torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])
add_embedding("plain_repeated", W, idx)
add_embedding("padding", W, torch.tensor([[0, 2, 0, 5], [2, 2, 7, 0]]), padding_idx=2)
add_embedding("padding_negative", W, torch.tensor([9, 1, 9, 3, 9]), padding_idx=-1)
add_embedding("index_3d", W, torch.tensor([[[1, 2, 3]], [[3, 2, 1]]]))
add_embedding("index_0d", W, torch.tensor(6))
add_embedding("max_norm", W * 3, torch.tensor([[1, 2, 4], [4, 1, 8]]), max_norm=1.5)
add_embedding("max_norm_l1_padding", W * 3, torch.tensor([0, 3, 3, 6]), max_norm=2.0, norm_type=1.0, padding_idx=0)
add_embedding("max_norm_inf", W * 3, torch.tensor([5, 7, 5]), max_norm=1.0, norm_type=math.inf)
add_embedding("wide", torch.randn(6, 40), torch.tensor([5, 0, 5, 5, 2, 0, 1]))
add_embedding("scale_grad_by_freq", W, torch.tensor([[3, 1, 3], [3, 0, 1]]), scale_grad_by_freq=True, padding_idx=0)
out["embedding"] = emb

# nn.Embedding's init: N(0, 1) with the padding row zeroed.
torch.manual_seed(1)
layer = nn.Embedding(1000, 16, padding_idx=3)
out["embedding_init"] = {"mean": layer.weight.mean().item(), "std": layer.weight.std().item(),
                         "padding_row_zero": bool((layer.weight[3] == 0).all())}

# MARK: clip_grad_norm_
clips = []
grads = [torch.randn(3, 4), torch.randn(5), torch.randn(2, 2, 2) * 3]
for norm_type in [2.0, 1.0, math.inf]:
    for max_norm in [1.0, 100.0]:
        ps = [torch.zeros_like(g, requires_grad=True) for g in grads] + [torch.zeros(3, requires_grad=True)]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        clips.append({
            "norm_type": str(norm_type), "max_norm": max_norm,
            "shapes": [list(g.shape) for g in grads],
            "grads": [flat(g) for g in grads],
            "total_norm": total.item(),
            "clipped": [flat(p.grad) for p in ps[:len(grads)]],
        })
out["clip_grad_norm"] = clips
ps = [torch.zeros(3, 4, requires_grad=True), torch.zeros(5, requires_grad=True)]
for p, g in zip(ps, grads[:2]):
    p.grad = g.clone()
torch.nn.utils.clip_grad_value_(ps, 0.5)
out["clip_grad_value"] = {"clip_value": 0.5, "grads": [flat(g) for g in grads[:2]],
                          "clipped": [flat(p.grad) for p in ps]}


# MARK: schedulers


def sgd(lr=0.1, groups=1, **kw):
    params = [[torch.zeros(1, requires_grad=True)] for _ in range(groups)]
    if groups == 1:
        return torch.optim.SGD(params[0], lr=lr, **kw)
    return torch.optim.SGD([{"params": p, "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr, **kw)


def run(opt, sched, steps, metrics=None, momentum=None):
    lrs = [[g["lr"] for g in opt.param_groups]]
    moms = [momentum(opt)] if momentum else None
    for s in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[s])
        lrs.append([g["lr"] for g in opt.param_groups])
        if momentum:
            moms.append(momentum(opt))
    r = {"lrs": lrs}
    if momentum:
        r["momenta"] = moms
    return r


scheds = {}
o = sgd(groups=2)
scheds["lambda_two_groups"] = run(o, torch.optim.lr_scheduler.LambdaLR(
    o, [lambda e: 0.95 ** e, lambda e: min(1.0, (e + 1) / 5)]), 12)
o = sgd()
scheds["lambda_one"] = run(o, torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e)), 8)

sgd_m = lambda opt: opt.param_groups[0]["momentum"]
adam_b1 = lambda opt: opt.param_groups[0]["betas"][0]
o = sgd(momentum=0.9)
scheds["onecycle_cos"] = run(o, torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=20), 20, momentum=sgd_m)
o = sgd(momentum=0.9)
scheds["onecycle_linear"] = run(o, torch.optim.lr_scheduler.OneCycleLR(
    o, max_lr=0.05, epochs=3, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.25), 15, momentum=sgd_m)
o = sgd(momentum=0.9, groups=2)
scheds["onecycle_three_phase"] = run(o, torch.optim.lr_scheduler.OneCycleLR(
    o, max_lr=0.2, total_steps=23, three_phase=True, div_factor=10, final_div_factor=100), 23, momentum=sgd_m)
o = sgd(momentum=0.9, groups=2)
scheds["onecycle_max_lr_per_group"] = run(o, torch.optim.lr_scheduler.OneCycleLR(
    o, max_lr=[0.1, 0.4], total_steps=10, pct_start=0.4), 10, momentum=sgd_m)
o = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
scheds["onecycle_adam"] = run(o, torch.optim.lr_scheduler.OneCycleLR(
    o, max_lr=3e-3, total_steps=12, base_momentum=0.8, max_momentum=0.9), 12, momentum=adam_b1)

o = sgd()
warm = torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5)
cos = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=15, eta_min=1e-4)
scheds["sequential_warmup_cosine"] = run(o, torch.optim.lr_scheduler.SequentialLR(o, [warm, cos], milestones=[5]), 25)
o = sgd(groups=2)
a = torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=3)
b = torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
c = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6)
scheds["sequential_three"] = run(o, torch.optim.lr_scheduler.SequentialLR(o, [a, b, c], milestones=[3, 8]), 16)

plateau_metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.79, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
scheds["plateau_metrics"] = plateau_metrics
o = sgd(groups=2)
scheds["plateau_min_rel"] = run(o, torch.optim.lr_scheduler.ReduceLROnPlateau(
    o, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.03), 20, metrics=plateau_metrics)
o = sgd()
scheds["plateau_max_abs"] = run(o, torch.optim.lr_scheduler.ReduceLROnPlateau(
    o, mode="max", factor=0.1, patience=1, threshold=0.05, threshold_mode="abs"), 20,
    metrics=[-m for m in plateau_metrics])
o = sgd(lr=1e-7)
scheds["plateau_eps"] = run(o, torch.optim.lr_scheduler.ReduceLROnPlateau(
    o, factor=0.5, patience=0, eps=1e-7), 6, metrics=[1.0] * 6)
out["schedulers"] = scheds


# MARK: containers
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = nn.Linear(4, 4)
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
        self.norm1 = nn.LayerNorm(4)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embed = nn.Embedding(10, 4, padding_idx=0)
        self.layers = nn.ModuleList([Block() for _ in range(3)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box_reg": nn.Linear(4, 2)})
        self.towers = nn.ModuleList([nn.ModuleDict({"up": nn.Linear(4, 4)}), nn.ModuleDict({"down": nn.Linear(4, 4, bias=False)})])
        self.final_norm = nn.LayerNorm(4)


net = Net()
stack = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4),
                       nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Sequential(nn.Linear(4, 8), nn.ReLU())])
out["containers"] = {"keys": list(net.state_dict().keys()),
                     "shapes": [list(t.shape) for t in net.state_dict().values()],
                     "repr": repr(net), "list_repr": repr(stack)}

path = os.path.join("Tests", "EmberTests", "Fixtures", "transformer_util.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
