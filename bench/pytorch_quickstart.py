"""The seed's PyTorch quickstart (FashionMNIST, 784-512-512-10 MLP, SGD lr 1e-3, batch 64),
unchanged in substance, with per-epoch timing. Ember's `ember-bench compare` runs it next to
Ember's `quickstart` and compares the `epoch_time` lines.

Usage: python pytorch_quickstart.py [--root DIR] [--epochs N] [--workers N] [--threads N]
Prints the seed's lines, then after each epoch's test output one line
    epoch_time train=<seconds>s test=<seconds>s
(train: the training loop over the DataLoader; test: the evaluation pass).
DIR must hold FashionMNIST/raw/* as torchvision expects (shared/reference/setup.sh makes it).
"""
import argparse, os, tempfile, time

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import ToTensor

p = argparse.ArgumentParser()
p.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "pytorch-reference", "data"))
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--workers", type=int, default=0, help="DataLoader num_workers (seed: 0)")
p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps PyTorch's default")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)

training_data = datasets.FashionMNIST(root=a.root, train=True, download=False, transform=ToTensor())
test_data = datasets.FashionMNIST(root=a.root, train=False, download=False, transform=ToTensor())

batch_size = 64
train_dataloader = DataLoader(training_data, batch_size=batch_size, num_workers=a.workers)
test_dataloader = DataLoader(test_data, batch_size=batch_size, num_workers=a.workers)
for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

device = "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)

        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % 100 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


for t in range(a.epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    t1 = time.perf_counter()
    train(train_dataloader, model, loss_fn, optimizer)
    t2 = time.perf_counter()
    test(test_dataloader, model, loss_fn)
    t3 = time.perf_counter()
    print(f"epoch_time train={t2-t1:.3f}s test={t3-t2:.3f}s", flush=True)
print("Done!")
