"""pytorch/examples' MNIST CNN, compute only: a training step (forward, cross-entropy,
backward, Adam lr 1e-3) on a fixed batch of pre-decoded tensors, and a test pass (no-grad
forward of 1000 images), as `ember-bench cnn` measures Ember's. No DataLoader, no data work.

Usage: python pytorch_cnn.py [--threads N] [--steps N] [--batch-norm]
Prints one line: step_ms=<median ms per training step of 64> test_ms=<ms per 1000-image pass>
"""
import argparse, time

import torch
from torch import nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=0)
p.add_argument("--steps", type=int, default=60)
p.add_argument("--batch-norm", action="store_true")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.bn1 = nn.BatchNorm2d(32) if bn else nn.Identity()
        self.bn2 = nn.BatchNorm2d(64) if bn else nn.Identity()
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


model = Net(a.batch_norm)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
xt = torch.rand(1000, 1, 28, 28)


def step():
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


for _ in range(10):
    step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
model.eval()
with torch.no_grad():
    model(xt)
    tt = []
    for _ in range(5):
        t0 = time.perf_counter()
        model(xt)
        tt.append(time.perf_counter() - t0)
tt.sort()
print(f"step_ms={times[len(times) // 2] * 1e3:.3f} test_ms={tt[2] * 1e3:.3f}")
