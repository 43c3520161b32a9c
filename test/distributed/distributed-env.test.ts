// Where a process finds its rendezvous: torchrun's variables or tcp://, with clear errors for absurd values.
import { resolveRendezvous, localPlacement } from '../../lib/distributed/env';
import { distributed } from '../../lib';
import { freePort } from '../helpers/ranks';

const env = { MASTER_ADDR: '10.1.2.3', MASTER_PORT: '29500', RANK: '3', WORLD_SIZE: '8' };

test("env:// reads torchrun's variables; explicit rank and worldSize win", () => {
  expect(resolveRendezvous('env://', undefined, undefined, env)).toEqual({
    host: '10.1.2.3',
    port: 29500,
    rank: 3,
    worldSize: 8,
  });
  expect(resolveRendezvous('env://', 1, 2, env)).toEqual({ host: '10.1.2.3', port: 29500, rank: 1, worldSize: 2 });
  expect(localPlacement({ LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '4' })).toEqual({ localRank: 1, localWorldSize: 4 });
  expect(localPlacement({})).toEqual({ localRank: 0, localWorldSize: 1 });
});

test('tcp://host:port (IPv6 in brackets too)', () => {
  expect(resolveRendezvous('tcp://node7:1234', 0, 2, {})).toEqual({ host: 'node7', port: 1234, rank: 0, worldSize: 2 });
  expect(resolveRendezvous('tcp://[::1]:1234/', 1, 2, {})).toEqual({ host: '::1', port: 1234, rank: 1, worldSize: 2 });
});

test('missing or absurd settings are errors naming the setting', () => {
  expect(() => resolveRendezvous('env://', 0, 1, { MASTER_PORT: '1' })).toThrow(/needs MASTER_ADDR/);
  expect(() => resolveRendezvous('env://', 0, 1, { MASTER_ADDR: 'a' })).toThrow(/needs MASTER_PORT/);
  expect(() => resolveRendezvous('env://', undefined, undefined, { ...env, MASTER_PORT: '70000' })).toThrow(
    /MASTER_PORT must be an integer in 1\.\.65535, got "70000"/,
  );
  expect(() => resolveRendezvous('env://', undefined, undefined, { ...env, RANK: '1.5' })).toThrow(
    /RANK must be an integer/,
  );
  expect(() => resolveRendezvous('env://', undefined, undefined, { ...env, RANK: '8' })).toThrow(
    /rank 8 is not below worldSize 8/,
  );
  expect(() => resolveRendezvous('env://', undefined, undefined, { ...env, WORLD_SIZE: '0' })).toThrow(
    /WORLD_SIZE must be an integer in 1\.\./,
  );
  expect(() => resolveRendezvous('env://', undefined, 2, { MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(
    /rank is not set/,
  );
  expect(() => resolveRendezvous('file:///tmp/x', 0, 1, {})).toThrow(
    /initMethod must be 'env:\/\/' or 'tcp:\/\/host:port'/,
  );
  expect(() => localPlacement({ LOCAL_RANK: '-1' })).toThrow(/LOCAL_RANK must be an integer/);
});

test('without a group: collectives and DDP say so; the process counts as rank 0 of its own', async () => {
  expect(distributed.isInitialized()).toBe(false);
  expect(distributed.isMainProcess()).toBe(true);
  expect(() => distributed.getRank()).toThrow(/not initialized: call initProcessGroup first/);
  await expect(distributed.barrier()).rejects.toThrow(/not initialized/);
  await expect(
    distributed.initProcessGroup({ backend: 'mpi' as never, initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 1 }),
  ).rejects.toThrow(/backend must be 'gloo' or 'nccl'/);
  await expect(
    distributed.initProcessGroup({ initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 1, timeoutMs: 0 }),
  ).rejects.toThrow(/timeoutMs must be an integer in 1\.\./);
});

test('a group of one runs every collective locally', async () => {
  const { tensor } = await import('../../lib');
  await distributed.initProcessGroup({
    initMethod: `tcp://127.0.0.1:${await freePort()}`,
    rank: 0,
    worldSize: 1,
    timeoutMs: 10000,
  });
  try {
    const t = tensor([1, 2, 3]);
    await distributed.allReduce(t, 'avg');
    expect(t.toArray()).toEqual([1, 2, 3]);
    expect((await distributed.allGather(t)).map((x) => x.toArray())).toEqual([[1, 2, 3]]);
    expect((await distributed.reduceScatter([t], 'sum')).toArray()).toEqual([1, 2, 3]);
  } finally {
    expect(distributed.destroyProcessGroup()).toBe(true);
  }
});

// Builds decide NCCL at compile time (scripts/libtorch.js): a CPU libtorch, a CUDA one without the CUDA and NCCL
// headers, or a machine without a GPU each give one clear error before any rendezvous (nothing to wait for); a build
// with NCCL on a GPU runs a group of one over CUDA tensors (scripts/gpu-test.sh runs this file there).
test("backend 'nccl': a clear error where this build or this machine cannot run it; with both, CUDA tensors reduce", async () => {
  const { tensor, cuda } = await import('../../lib');
  const init = async () =>
    distributed.initProcessGroup({
      backend: 'nccl',
      initMethod: `tcp://127.0.0.1:${await freePort()}`,
      rank: 0,
      worldSize: 1,
      timeoutMs: 20000,
    });
  const noNccl = /the nccl backend is not available: this build of torch-lora has no NCCL .*use backend 'gloo'/;
  if (!cuda.isAvailable()) {
    await expect(init()).rejects.toThrow(
      new RegExp(`${noNccl.source}|the nccl backend needs a CUDA device, and CUDA is not available here`),
    );
    expect(distributed.isInitialized()).toBe(false);
    return;
  }
  const started = await init().then(
    () => null,
    (e: Error) => e,
  );
  if (started) {
    expect(started.message).toMatch(noNccl); // a CUDA machine, a build without NCCL
    return;
  }
  try {
    expect(distributed.getBackend()).toBe('nccl');
    const t = tensor([1, 2, 3], { device: 'cuda' });
    await distributed.allReduce(t, 'sum');
    expect(t.toArray()).toEqual([1, 2, 3]);
    await expect(distributed.allReduce(tensor([1]), 'sum')).rejects.toThrow(/the nccl backend needs CUDA tensors/);
  } finally {
    expect(distributed.destroyProcessGroup()).toBe(true);
  }
});
