"""PyTorch's side of `ember-bench data --dataset imagefolder`: images/s through torchvision's
ImageFolder (PIL decode, RGB) + DataLoader with RandomResizedCrop(224), RandomHorizontalFlip,
ToTensor and Normalize at batch 64, shuffled, for each worker count; `--batches` batches per
measurement after one warm-up batch.

    python bench/pytorch_imagefolder.py --root /tmp/ember-imagefolder --workers 0,1,2 --batches 20

Prints one parseable line per worker count:
    pytorch_imagefolder workers=0 images_per_s=312.4
"""
import argparse
import itertools
import time

import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms as T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="/tmp/ember-imagefolder")
    p.add_argument("--workers", default="0,1,2")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = torchvision.datasets.ImageFolder(args.root, transform=tf)
    for w in (int(x) for x in args.workers.split(",")):
        loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=w,
                            generator=torch.Generator().manual_seed(args.seed))
        it = iter(loader)
        next(it)  # warm-up: workers started, first batch in flight
        n = 0
        start = time.perf_counter()
        for X, _ in itertools.islice(it, args.batches):
            n += X.shape[0]
        secs = time.perf_counter() - start
        print(f"pytorch_imagefolder workers={w} images_per_s={n / secs:.1f}", flush=True)
        del it


if __name__ == "__main__":
    main()
