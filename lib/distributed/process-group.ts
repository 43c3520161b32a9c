// torch.distributed's process group API over libtorch's c10d (TCPStore rendezvous; Gloo on CPU, NCCL on CUDA).
// Collectives return promises: the work runs on c10d's threads and is awaited off the JavaScript thread.
import { N } from '../native';
import { Tensor, wrap, arg } from '../tensor';
import { dtypeCode, dtypeName } from '../dtype';
import { tensor, cat, zeros } from '../creation';
import { tidy } from '../scope';
import { DEFAULT_TIMEOUT_MS, intSetting, localPlacement, resolveRendezvous } from './env';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface InitProcessGroupOptions {
  /** 'gloo' (CPU tensors; the default) or 'nccl' (CUDA tensors, where this build of libtorch has it). */
  backend?: Backend;
  /** 'env://' (the default: MASTER_ADDR and MASTER_PORT) or 'tcp://host:port'. */
  initMethod?: string;
  /** Default: RANK from the environment. */
  rank?: number;
  /** Default: WORLD_SIZE from the environment. */
  worldSize?: number;
  /** How long the rendezvous and every collective wait for the other ranks (default 30 minutes, as PyTorch). */
  timeoutMs?: number;
}

export interface ProcessGroupInfo {
  rank: number;
  worldSize: number;
  backend: Backend;
  timeoutMs: number;
}

// Collectives are issued in call order on every rank (c10d pairs them by order). Composite ones (allGather of
// uneven shapes exchanges shapes first) must not interleave with the next call, so every call waits for the
// previous one to settle before it launches.
let tail: Promise<unknown> = Promise.resolve();
function serialized<T>(launch: () => Promise<T>): Promise<T> {
  const run = tail.then(launch, launch);
  tail = run.catch(() => undefined);
  return run;
}

/**
 * Joins the default process group: rank 0 hosts the TCPStore at the rendezvous address, the others connect; the
 * promise resolves once every rank has arrived, or rejects after `timeoutMs`.
 */
export async function initProcessGroup(opts: InitProcessGroupOptions = {}): Promise<void> {
  const backend = opts.backend ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl')
    throw new Error(`backend must be 'gloo' or 'nccl', got ${JSON.stringify(backend)}`);
  const timeoutMs = intSetting('timeoutMs', opts.timeoutMs, 1, 7 * 24 * 3600 * 1000) ?? DEFAULT_TIMEOUT_MS;
  const rv = resolveRendezvous(opts.initMethod ?? 'env://', opts.rank, opts.worldSize);
  // Under torchrun's elastic agent the agent already serves the store at MASTER_PORT; rank 0 then connects too.
  const isServer = rv.rank === 0 && process.env.TORCHELASTIC_USE_AGENT_STORE !== 'True';
  await N.distInit(backend, rv.host, rv.port, rv.rank, rv.worldSize, timeoutMs, isServer);
}

/** Leaves the default process group (waits for its queued collectives). Returns false when there was none. */
export function destroyProcessGroup(): boolean {
  return N.distDestroy();
}

export function isInitialized(): boolean {
  return N.distInfo() !== null;
}

function info(): ProcessGroupInfo {
  const i = N.distInfo();
  if (!i) throw new Error('the default process group is not initialized: call initProcessGroup first');
  return i;
}

export const getRank = (): number => info().rank;
export const getWorldSize = (): number => info().worldSize;
export const getBackend = (): Backend => info().backend;
/** LOCAL_RANK and LOCAL_WORLD_SIZE as torchrun sets them (0 and 1 when unset). */
export const getLocalRank = (): number => localPlacement().localRank;
export const getLocalWorldSize = (): number => localPlacement().localWorldSize;

/** Rank 0 of the default group, or true when there is no group (a single process is its own rank 0). */
export const isMainProcess = (): boolean => !isInitialized() || getRank() === 0;

export function barrier(): Promise<void> {
  return serialized(() => N.distBarrier());
}

/** Reduces `t` over all ranks in place; resolves to `t`. */
export function allReduce(t: Tensor, op: ReduceOp = 'sum'): Promise<Tensor> {
  const h = arg(t);
  return serialized(async () => {
    await N.distAllReduce(h, op);
    return t;
  });
}

/** Overwrites `t` with rank `src`'s values, in place; resolves to `t`. */
export function broadcast(t: Tensor, src = 0): Promise<Tensor> {
  const h = arg(t);
  return serialized(async () => {
    await N.distBroadcast(h, src);
    return t;
  });
}

/** @internal Broadcasts many tensors as one message per dtype (DistributedDataParallel's start). */
export function broadcastCoalesced(ts: Tensor[], src = 0): Promise<void> {
  const hs = ts.map(arg);
  return serialized(() => N.distBroadcastCoalesced(hs, src));
}

const MAX_DIMS = 8;

/**
 * Every rank's `t`, in rank order (new tensors). Shapes may differ between ranks (uneven last batches, ragged
 * lists): ranks first exchange dtype and shape, then the data padded to the largest one. Dtypes must agree.
 */
export function allGather(t: Tensor): Promise<Tensor[]> {
  const h = arg(t);
  return serialized(async () => {
    const shape = t.shape;
    if (shape.length > MAX_DIMS) throw new Error(`allGather: at most ${MAX_DIMS} dimensions, got ${shape.length}`);
    const meta = tensor([dtypeCode(t.dtype), shape.length, ...shape, ...new Array(MAX_DIMS - shape.length).fill(0)], {
      dtype: 'int64',
      device: t.device,
    });
    let metas: Tensor[];
    try {
      metas = (await N.distAllGather(meta.handle)).map(wrap);
    } finally {
      meta.dispose();
    }
    const rows = metas.map((m) => m.toArray() as number[]);
    metas.forEach((m) => m.dispose());
    const shapes = rows.map((r) => r.slice(2, 2 + r[1]));
    const mismatch = rows.findIndex((r) => r[0] !== rows[0][0]);
    if (mismatch >= 0) {
      throw new Error(
        `allGather: rank ${mismatch} sent ${dtypeName(rows[mismatch][0])} but rank 0 sent ${dtypeName(rows[0][0])}`,
      );
    }
    const same = shapes.every((s) => s.length === shape.length && s.every((d, i) => d === shape[i]));
    if (same) return (await N.distAllGather(h)).map(wrap);
    const numels = shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const longest = Math.max(...numels);
    const padded = tidy(() => {
      const flat = t.detach().reshape([-1]);
      return longest > flat.shape[0]
        ? cat([flat, zeros([longest - flat.shape[0]], { dtype: t.dtype, device: t.device })])
        : flat.clone();
    });
    let gathered: Tensor[];
    try {
      gathered = (await N.distAllGather(padded.handle)).map(wrap);
    } finally {
      padded.dispose();
    }
    const out = gathered.map((g, r) => tidy(() => g.slice(0, 0, numels[r]).reshape(shapes[r]).clone()));
    gathered.forEach((g) => g.dispose());
    return out;
  });
}

/**
 * Rank r receives the reduction over ranks of `inputs[r]` (a new tensor). `inputs` has one tensor per rank, each
 * of any shape (the same on every rank), or is one tensor whose first dimension splits evenly over the ranks.
 */
export function reduceScatter(inputs: Tensor[] | Tensor, op: ReduceOp = 'sum'): Promise<Tensor> {
  return serialized(async () => {
    if (inputs instanceof Tensor) {
      const w = getWorldSize();
      const n = inputs.shape[0];
      if (inputs.dim() === 0 || n % w !== 0) {
        throw new Error(
          `reduceScatter: the first dimension (${inputs.shape[0] ?? 'none'}) must split evenly over ${w} ranks`,
        );
      }
      const parts = inputs.chunk(w, 0);
      try {
        return wrap(await N.distReduceScatter(parts.map(arg), op));
      } finally {
        parts.forEach((p) => p.dispose());
      }
    }
    return wrap(await N.distReduceScatter(inputs.map(arg), op));
  });
}
