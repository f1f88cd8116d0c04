"""Writes Tests/EmberDistributedTests/Fixtures/distributed_sampler.json: the indices PyTorch's
DistributedSampler gives each rank, unshuffled, for dataset sizes that do and do not divide by
the number of replicas, with and without drop_last (including more replicas than samples,
where padding wraps more than once). Run from the repo root with the PyTorch reference
(shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_sampler_fixtures.py

Shuffled orders are not compared: Ember's permutation generator is not torch.randperm.
"""
import json
import os
from torch.utils.data.distributed import DistributedSampler

cases = []
for n in [0, 1, 3, 10, 11, 16, 17]:
    for replicas in [1, 2, 3, 4, 5]:
        for drop_last in [False, True]:
            if n == 0 and not drop_last:
                continue  # PyTorch divides by zero padding an empty dataset
            ranks = []
            for rank in range(replicas):
                s = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
                ranks.append(list(iter(s)))
            cases.append({"n": n, "replicas": replicas, "drop_last": drop_last,
                          "num_samples": s.num_samples, "ranks": ranks})

out = os.path.join("Tests", "EmberDistributedTests", "Fixtures", "distributed_sampler.json")
with open(out, "w") as f:
    json.dump({"cases": cases}, f, indent=0)
print(f"wrote {len(cases)} cases to {out}")
