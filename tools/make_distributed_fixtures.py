"""Writes test/fixtures/distributed-sampler.json: the indices torch.utils.data.DistributedSampler gives each rank.

Run with a Python that has PyTorch: python tools/make_distributed_fixtures.py
"""
import json
import os

import torch
from torch.utils.data import DistributedSampler

cases = []
for n, replicas, shuffle, drop_last, seed, epoch in [
    (10, 2, True, False, 0, 0), (10, 2, True, False, 0, 1), (11, 2, True, False, 0, 0), (11, 2, True, True, 0, 0),
    (11, 4, False, False, 0, 0), (11, 4, False, True, 0, 0), (3, 8, True, False, 42, 3), (100, 3, True, False, 7, 2),
    (1000, 8, True, True, 123, 5), (5, 2, False, False, 0, 0),
]:
    ranks = []
    for r in range(replicas):
        s = DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=shuffle, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        ranks.append(list(iter(s)))
    cases.append(dict(n=n, replicas=replicas, shuffle=shuffle, dropLast=drop_last, seed=seed, epoch=epoch, ranks=ranks))

out = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'distributed-sampler.json')
with open(out, 'w') as f:
    json.dump(dict(torch=torch.__version__, cases=cases), f)
print(f'wrote {len(cases)} cases to {out}')
