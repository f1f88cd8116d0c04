"""Replays in PyTorch the training steps Ember recorded with `gpt --record DIR`: loads Ember's
initial weights (DIR/init.safetensors, Ember's own default initialisation) into
pytorch_gpt.py's GPT with strict key checking, runs the same AdamW steps (the same groups,
lr, weight decay, clipping) on the same batches (DIR/steps.json), and prints both loss
series and the largest relative difference. Exits 1 if it exceeds --tolerance (1e-4).

Usage: python bench/gpt_from_ember.py DIR [--threads N] [--tolerance T] [--store]
  --store  also writes PyTorch's losses into DIR/steps.json (`pytorch_losses`), as the
           committed fixture Tests/EmberTests/Fixtures/gpt_ember has them for GPTTests.
"""
import argparse, json, os, sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_gpt import GPT, adamw, train_step  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--threads", type=int, default=0)
p.add_argument("--tolerance", type=float, default=1e-4)
p.add_argument("--store", action="store_true")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)

steps_path = os.path.join(a.dir, "steps.json")
with open(steps_path) as f:
    rec = json.load(f)
cfg = rec["config"]
model = GPT(cfg["vocab"], cfg["block"], cfg["layers"], cfg["nh"], cfg["c"], bias=cfg["bias"], tied=cfg["tied"])
state = load_file(os.path.join(a.dir, "init.safetensors"))
if cfg["tied"]:
    # Ember saves the tied head once, under the embedding's key; PyTorch's state dict lists both.
    if "lm_head.weight" in state:
        sys.exit("init.safetensors has lm_head.weight although the head is tied")
    state["lm_head.weight"] = state["wte.weight"]
model.load_state_dict(state, strict=True)   # every key in PyTorch's naming, every shape
if cfg["tied"]:
    assert model.lm_head.weight is model.wte.weight

opt = adamw(model, rec["lr"], rec["weight_decay"])
b, t = rec["batch"], cfg["block"]
losses = []
for batch in rec["batches"]:
    x = torch.tensor(batch["x"], dtype=torch.int64).reshape(b, t)
    y = torch.tensor(batch["y"], dtype=torch.int64).reshape(b, t)
    losses.append(train_step(model, opt, x, y, clip=rec["grad_clip"]).item())

ember = rec["losses"]
if len(ember) != len(losses):
    sys.exit(f"steps.json has {len(ember)} losses for {len(losses)} batches")
rel = [abs(e - p) / abs(p) for e, p in zip(ember, losses)]
print(f"GPT vocab {cfg['vocab']}, block {t}, {cfg['layers']} layers, {cfg['nh']} heads, width {cfg['c']}, "
      f"batch {b}, lr {rec['lr']}, weight decay {rec['weight_decay']}, clip {rec['grad_clip']}, seed {rec['seed']}; "
      f"torch {torch.__version__}")
print("step  Ember       PyTorch     rel. diff")
for i, (e, q, r) in enumerate(zip(ember, losses, rel)):
    print(f"{i + 1:4d}  {e:.8f}  {q:.8f}  {r:.2e}")
worst = max(rel)
print(f"max relative difference over {len(rel)} steps: {worst:.3e} (tolerance {a.tolerance:g})")
if a.store:
    rec["pytorch_losses"] = losses
    with open(steps_path, "w") as f:
        json.dump(rec, f, sort_keys=True)
    print(f"stored PyTorch's losses in {steps_path}")
sys.exit(0 if worst <= a.tolerance else 1)
