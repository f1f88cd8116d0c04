"""The quickstart's model and training step with no DataLoader: FashionMNIST is decoded once
into one float tensor (values / 255, as ToTensor gives) and sliced into batches of 64 in
order. Same math as pytorch_quickstart.py (784-512-512-10 MLP, CrossEntropyLoss, SGD lr 1e-3);
this is the fastest a PyTorch user gets on a CPU for this model without changing it.

Usage: python pytorch_compute_only.py [--root DIR | --dir DIR] [--epochs N] [--threads N]
Prints per epoch one line
    epoch_time train=<seconds>s test=<seconds>s loss=<last batch loss> accuracy=<test %>
(test: one no-grad pass over the 10,000 pre-decoded test images in batches of 64).
Data: --dir with the Debian layout (*-ubyte.gz, default /usr/share/datasets/fashion-mnist),
else --root with torchvision's layout (ROOT/FashionMNIST/raw/*-ubyte, as setup.sh makes).
"""
import argparse, gzip, os, tempfile, time

import numpy as np
import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "pytorch-reference", "data"))
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps PyTorch's default")
p.add_argument("--workers", type=int, default=0, help="ignored (no DataLoader); accepted for symmetry")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)


def idx(name, offset):
    """Reads an IDX file (gzipped Debian copy first, then torchvision's raw copy)."""
    gz = os.path.join(a.dir, name + ".gz")
    if os.path.exists(gz):
        with gzip.open(gz) as f:
            data = f.read()
    else:
        with open(os.path.join(a.root, "FashionMNIST", "raw", name), "rb") as f:
            data = f.read()
    return np.frombuffer(data, np.uint8, offset=offset)


def images(name):
    return torch.from_numpy(idx(name, 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255)


def labels(name):
    return torch.from_numpy(idx(name, 8).astype(np.int64))


X, Y = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
Xt, Yt = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")

model = nn.Sequential(nn.Flatten(),
                      nn.Linear(28 * 28, 512), nn.ReLU(),
                      nn.Linear(512, 512), nn.ReLU(),
                      nn.Linear(512, 10))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
batch_size = 64

for ep in range(a.epochs):
    model.train()
    t1 = time.perf_counter()
    for i in range(0, len(X), batch_size):
        loss = loss_fn(model(X[i:i + batch_size]), Y[i:i + batch_size])
        loss.backward()
        opt.step()
        opt.zero_grad()
    t2 = time.perf_counter()
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(Xt), batch_size):
            correct += (model(Xt[i:i + batch_size]).argmax(1) == Yt[i:i + batch_size]).sum().item()
    t3 = time.perf_counter()
    print(f"epoch_time train={t2-t1:.3f}s test={t3-t2:.3f}s loss={loss.item():.6f} "
          f"accuracy={100 * correct / len(Xt):.1f}%", flush=True)
