"""F.scaled_dot_product_attention forward + backward, compute only, at the shapes
`ember-bench attention` times Ember's kernel at: (B, H, T, D) query, key and value, the loss
sum(out * g) with a fixed g, causal or not.

Usage: python pytorch_attention.py --t T [--b B] [--h H] [--d D] [--causal] [--threads N] [--reps N]
Prints one line: ms=<median ms per forward+backward> maxrss_mb=<peak resident set of this process>
"""
import argparse, resource, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--t", type=int, required=True)
p.add_argument("--b", type=int, default=1)
p.add_argument("--h", type=int, default=4)
p.add_argument("--d", type=int, default=64)
p.add_argument("--causal", action="store_true")
p.add_argument("--threads", type=int, default=0)
p.add_argument("--reps", type=int, default=7)
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
shape = (a.b, a.h, a.t, a.d)
q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))
g = torch.randn(shape)


def step():
    out = F.scaled_dot_product_attention(q, k, v, is_causal=a.causal)
    out.backward(g)
    q.grad = k.grad = v.grad = None


for _ in range(2):
    step()
times = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
print(f"ms={times[len(times) // 2] * 1e3:.3f} maxrss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
