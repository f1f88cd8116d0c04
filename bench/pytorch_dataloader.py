"""PyTorch's side of `ember-bench data`: samples/s through torch's DataLoader over the real
FashionMNIST at batch 64, shuffled, for the given worker counts and transforms.

    python bench/pytorch_dataloader.py --root /tmp/pytorch-reference/data --workers 0,1,2 --epochs 1

Prints one parseable line per configuration:
    pytorch_dataloader transform=totensor workers=0 samples_per_s=7012.3 epoch_s=8.556
"""
import argparse
import time

import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms as T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="/tmp/pytorch-reference/data")
    p.add_argument("--workers", default="0,1,2")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--transforms", default="totensor,normalize")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipelines = {
        "totensor": T.ToTensor(),
        "normalize": T.Compose([T.ToTensor(), T.Normalize((0.2860,), (0.3530,))]),
    }
    for name in args.transforms.split(","):
        ds = torchvision.datasets.FashionMNIST(args.root, train=True, download=False, transform=pipelines[name])
        for w in (int(x) for x in args.workers.split(",")):
            loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=w,
                                generator=torch.Generator().manual_seed(0))
            n = 0
            start = time.perf_counter()
            for _ in range(args.epochs):
                for X, y in loader:
                    n += X.shape[0]
            secs = time.perf_counter() - start
            print(f"pytorch_dataloader transform={name} workers={w} samples_per_s={n / secs:.1f} "
                  f"epoch_s={secs / args.epochs:.3f}", flush=True)


if __name__ == "__main__":
    main()
