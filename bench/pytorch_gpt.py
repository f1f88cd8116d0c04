"""The gpt example's model in PyTorch (EmberModels.GPT: nanoGPT's shape, the same state-dict
keys), and a compute-only training step as `ember-bench gpt` measures Ember's: forward,
cross-entropy, backward, gradient clipping at 1.0 and AdamW on a fixed batch of token ids.

Usage: python pytorch_gpt.py [--threads N] [--steps N] [--layers L] [--heads H] [--width C]
                             [--block-size T] [--batch-size B] [--vocab V]
Prints one line: step_ms=<median ms per training step>
scripts/make_gpt_fixture.py imports GPT from here.
"""
import argparse, math, time

import torch
from torch import nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, c, nh, bias):
        super().__init__()
        self.c_attn = nn.Linear(c, 3 * c, bias=bias)
        self.c_proj = nn.Linear(c, c, bias=bias)
        self.nh = nh

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        heads = lambda y: y.view(b, t, self.nh, c // self.nh).transpose(1, 2)
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self, c, bias):
        super().__init__()
        self.c_fc = nn.Linear(c, 4 * c, bias=bias)
        self.c_proj = nn.Linear(4 * c, c, bias=bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c, nh, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c, bias=bias)
        self.attn = CausalSelfAttention(c, nh, bias)
        self.ln_2 = nn.LayerNorm(c, bias=bias)
        self.mlp = MLP(c, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Keys: wte.weight, wpe.weight, h.N.…, ln_f.…, lm_head.weight (tied to wte.weight)."""

    def __init__(self, vocab, block, layers, nh, c, bias=True, tied=True):
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(block, c)
        self.h = nn.ModuleList([Block(c, nh, bias) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(c, bias=bias)
        self.lm_head = nn.Linear(c, vocab, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
        if tied:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def adamw(model, lr, weight_decay):
    """nanoGPT's groups: decay on matrices and embeddings, none on biases and LayerNorm."""
    params = list(model.parameters())
    return torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.99))


def train_step(model, opt, x, y, clip=1.0):
    logits = model(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    opt.zero_grad()
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--vocab", type=int, default=113)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = GPT(a.vocab, a.block_size, a.layers, a.heads, a.width)
    opt = adamw(model, 1e-3, 0.1)
    x = torch.randint(0, a.vocab, (a.batch_size, a.block_size))
    y = torch.randint(0, a.vocab, (a.batch_size, a.block_size))
    for _ in range(5):
        train_step(model, opt, x, y)
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        train_step(model, opt, x, y)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"step_ms={times[len(times) // 2] * 1e3:.3f}")
