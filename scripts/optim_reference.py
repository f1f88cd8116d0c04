"""Expected values for Tests/EmberTests/OptimTests.swift, from torch.optim (run with
/tmp/pytorch-reference/venv/bin/python scripts/optim_reference.py). The printed lists are
pasted beside the checks."""
import torch

torch.set_printoptions(precision=10)
p0 = [0.5, -1.0, 2.0, 0.25]
grads = [[0.1, -0.2, 0.3, -0.4], [-0.5, 0.25, 0.0, 1.0], [0.3, 0.3, -0.3, 0.05]]


def run(make):
    p = torch.tensor(p0, dtype=torch.float32, requires_grad=True)
    opt = make([p])
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    return [float(v) for v in p.detach()]


cases = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False),
    "sgdMomentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, foreach=False),
    "sgdNesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, foreach=False),
    "sgdMaximize": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, maximize=True, foreach=False),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, foreach=False),
    "adamL2Amsgrad": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True, foreach=False),
    "adamW": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, foreach=False),
}
for name, make in cases.items():
    print(name, [repr(v) for v in run(make)])


def lrs(make, steps):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    s = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        s.step()
        out.append(opt.param_groups[0]["lr"])
    return out


print("stepLR", lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 8))
print("cosine", lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.001), 12))
print("linear", lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4), 6))

# Cross-entropy with class weights and label smoothing, and NLL, on fixed numbers.
logits = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0], [0.2, 0.2, 0.2], [2.0, -2.0, 1.0]], requires_grad=True)
target = torch.tensor([1, 2, 0, 0])
w = torch.tensor([0.5, 2.0, 1.0])
for red in ["mean", "sum", "none"]:
    loss = torch.nn.CrossEntropyLoss(weight=w, reduction=red, label_smoothing=0.1)(logits, target)
    print("ce", red, [repr(v) for v in loss.reshape(-1).tolist()])
loss = torch.nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(logits, target)
loss.backward()
print("ce grad", [repr(v) for v in logits.grad.reshape(-1).tolist()])
print("nll", repr(torch.nn.NLLLoss(weight=w)(torch.log_softmax(logits, 1), target).item()))
print("mse", repr(torch.nn.MSELoss()(logits, torch.ones(4, 3)).item()))
