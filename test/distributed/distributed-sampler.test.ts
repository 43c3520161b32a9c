// DistributedSampler against torch.utils.data.DistributedSampler (fixture written by
// tools/make_distributed_fixtures.py with PyTorch): padding, drop_last, shuffling per epoch, more ranks than samples.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { distributed } from '../../lib';

interface Case {
  n: number;
  replicas: number;
  shuffle: boolean;
  dropLast: boolean;
  seed: number;
  epoch: number;
  ranks: number[][];
}
const fx = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'distributed-sampler.json'), 'utf8')) as {
  cases: Case[];
};

test.each(
  fx.cases.map((c) => [
    `n=${c.n} replicas=${c.replicas} shuffle=${c.shuffle} dropLast=${c.dropLast} seed=${c.seed} epoch=${c.epoch}`,
    c,
  ]),
)("every rank gets PyTorch's indices: %s", (_name, c) => {
  const { n, replicas, shuffle, dropLast, seed, epoch, ranks } = c as Case;
  ranks.forEach((want, rank) => {
    const s = new distributed.DistributedSampler(n, { numReplicas: replicas, rank, shuffle, dropLast, seed });
    s.setEpoch(epoch);
    expect(s.indices()).toEqual(want);
    expect([...s]).toEqual(want);
    expect(s.length).toBe(want.length);
  });
});

test('without a process group a sampler is one rank of one; bad settings are clear errors', () => {
  const s = new distributed.DistributedSampler(5, { shuffle: false });
  expect([s.numReplicas, s.rank, s.indices()]).toEqual([1, 0, [0, 1, 2, 3, 4]]);
  expect(() => new distributed.DistributedSampler(5, { numReplicas: 2, rank: 2 })).toThrow(
    /rank 2 must be below numReplicas 2/,
  );
  expect(() => new distributed.DistributedSampler(-1)).toThrow(/datasetSize must be an integer/);
  expect(() => new distributed.DistributedSampler(5, { numReplicas: 0 })).toThrow(
    /numReplicas must be an integer in 1\.\./,
  );
});
