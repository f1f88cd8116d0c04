"""Writes Tests/EmberTests/Fixtures/shape_layers.json: PyTorch's padding layers (nn.ZeroPad2d,
ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d), nn.PixelShuffle,
nn.PixelUnshuffle, nn.Unflatten, F.normalize, F.cosine_similarity and F.pairwise_distance (and
nn.CosineSimilarity / nn.PairwiseDistance's reprs): for each, its inputs, output and the
inputs' gradients of L = sum(out * g), g of the output's shape. Run from the repo root with
the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_shape_layer_fixtures.py
"""
import json
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def flat(t):
    return t.detach().reshape(-1).double().tolist()


cases = []


def add(name, fn, *shapes, repr_of=None):
    xs = [torch.randn(s).requires_grad_(True) for s in shapes]
    y = fn(*xs)
    g = torch.linspace(0.5, 1.5, y.numel()).reshape(y.shape)
    (y * g).sum().backward()
    cases.append({"name": name, "repr": repr(repr_of if repr_of is not None else fn),
                  "shapes": [list(s) for s in shapes], "inputs": [flat(x) for x in xs],
                  "shape": list(y.shape), "y": flat(y), "g": flat(g), "grads": [flat(x.grad) for x in xs]})


add("zero_pad", nn.ZeroPad2d(1), [1, 2, 3, 4])
add("zero_pad_4", nn.ZeroPad2d((1, 2, 0, 3)), [2, 3, 4])
add("constant_pad", nn.ConstantPad2d((1, 0, 2, 1), 3.5), [1, 2, 3, 4])
add("reflection_pad", nn.ReflectionPad2d(2), [1, 2, 3, 4])
add("replication_pad", nn.ReplicationPad2d((1, 0, 2, 0)), [1, 2, 3, 4])
add("circular_pad", nn.CircularPad2d(1), [1, 2, 3, 4])
add("pixel_shuffle", nn.PixelShuffle(2), [1, 8, 2, 3])
add("pixel_unshuffle", nn.PixelUnshuffle(2), [1, 2, 4, 6])
add("unflatten", nn.Unflatten(1, (2, 3)), [2, 6])
add("normalize", lambda x: F.normalize(x), [3, 5], repr_of="")
add("normalize_p1_dim0", lambda x: F.normalize(x, p=1.0, dim=0), [3, 5], repr_of="")
add("cosine_similarity", nn.CosineSimilarity(), [3, 5], [3, 5])
add("cosine_similarity_broadcast", nn.CosineSimilarity(dim=-1), [4, 6], [1, 6])
add("pairwise_distance", nn.PairwiseDistance(), [3, 5], [3, 5])
add("pairwise_distance_p1_keepdim", nn.PairwiseDistance(p=1.0, keepdim=True), [3, 5], [3, 5])

with open("Tests/EmberTests/Fixtures/shape_layers.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
print(f"wrote {len(cases)} cases")
