"""Writes the ResNet-18 fixtures of Tests/EmberTests/Fixtures/:
- resnet18_keys.json: torchvision's resnet18() state-dict keys and shapes, in order, for the
  ImageNet stem and for the CIFAR stem (3x3 stride-1 conv1, no max pool), 10 classes;
- resnet18_w8.safetensors: a ResNet-18 of torchvision's exact structure and key names built
  from torchvision's own BasicBlock with every width divided by 8 (so the file is small),
  CIFAR stem, after three training steps (so the running statistics are not trivial), plus
  an input batch ("input") and its eval-mode logits ("logits").
Run from the repo root with the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_resnet_fixture.py
"""
import json
import os
import torch
from torch import nn
from safetensors.torch import save_file
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock

here = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures")
torch.manual_seed(0)


def cifar(model, width):
    model.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def entries(model):
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


keys = {"imagenet": entries(resnet18(num_classes=10)), "cifar": entries(cifar(resnet18(num_classes=10), 64))}
with open(os.path.join(here, "resnet18_keys.json"), "w") as f:
    json.dump(keys, f)


class SmallResNet18(nn.Module):
    """torchvision's ResNet-18 layout and names, every width / 8 (it hard-codes 64 as the base)."""

    def __init__(self, width=8, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        planes, widths = width, [width, 2 * width, 4 * width, 8 * width]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or planes != w:
                down = nn.Sequential(nn.Conv2d(planes, w, 1, stride, bias=False), nn.BatchNorm2d(w))
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(planes, w, stride, down), BasicBlock(w, w)))
            planes = w
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


model = SmallResNet18()
full = [k for k, _ in keys["cifar"]]
assert [k for k in model.state_dict()] == full, "the small network's keys differ from torchvision's"
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for _ in range(3):
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
x = torch.randn(4, 3, 32, 32)
with torch.no_grad():
    logits = model(x)
tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
tensors["input"], tensors["logits"] = x, logits
save_file(tensors, os.path.join(here, "resnet18_w8.safetensors"))
print("wrote resnet18_keys.json and resnet18_w8.safetensors;", sum(v.numel() for v in tensors.values()), "values")
