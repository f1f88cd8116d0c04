"""Writes Tests/EmberTests/Fixtures/gpt_steps.json and gpt_init.safetensors: a small GPT
(bench/pytorch_gpt.py's, the same keys as EmberModels.GPT) with PyTorch's initial weights,
ten batches of token ids, and the loss of each of ten training steps (AdamW lr 1e-3, weight
decay 0.1 on matrices, betas (0.9, 0.99), gradient clipping at 1.0) with the tied head.
GPTTests loads the weights into Ember's GPT, runs the same steps and compares the losses.

Usage: python scripts/make_gpt_fixture.py   (PyTorch and safetensors: shared/reference/setup.sh)
"""
import json, os, sys

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "bench"))
from pytorch_gpt import GPT, adamw, train_step  # noqa: E402

torch.manual_seed(0)
cfg = dict(vocab=17, block=8, layers=2, nh=2, c=16)
model = GPT(cfg["vocab"], cfg["block"], cfg["layers"], cfg["nh"], cfg["c"])
out = os.path.join(here, "..", "Tests", "EmberTests", "Fixtures")
# The tied head is the embedding's tensor: saved once, under wte.weight.
state = {k: v.clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}
save_file(state, os.path.join(out, "gpt_init.safetensors"))

opt = adamw(model, 1e-3, 0.1)
batches, losses = [], []
for _ in range(10):
    x = torch.randint(0, cfg["vocab"], (4, cfg["block"]))
    y = torch.randint(0, cfg["vocab"], (4, cfg["block"]))
    losses.append(train_step(model, opt, x, y).item())
    batches.append({"x": x.flatten().tolist(), "y": y.flatten().tolist()})
with open(os.path.join(out, "gpt_steps.json"), "w") as f:
    json.dump({"config": cfg, "batch": 4, "batches": batches, "losses": losses,
               "torch": torch.__version__}, f)
print("losses:", ", ".join(f"{l:.6f}" for l in losses))
