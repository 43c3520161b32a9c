// DistributedDataParallel: the same model on every rank, each on its own share of the batch; gradients of the
// trainable parameters are averaged during backward (native/distributed_ddp.cc), so every rank's optimizer takes
// the same step as one process on the whole batch would.
import { N } from '../native';
import type { Module } from '../nn/module';
import { arg } from '../tensor';
import { broadcastCoalesced } from './process-group';

export interface DistributedDataParallelOptions {
  /** Gradients travel in buckets of about this many MB (PyTorch's default: 25). */
  bucketCapMB?: number;
  /**
   * Allow trainable parameters that get no gradient in a backward pass (their gradient counts as zero on that
   * rank). Off by default: such a parameter is then a clear error at the end of backward.
   */
  findUnusedParameters?: boolean;
}

export interface GradientSyncStats {
  /** Buckets per synchronisation. */
  buckets: number;
  /** Bytes all-reduced per synchronised backward. */
  bytesPerSync: number;
  /** Synchronised backward passes so far. */
  syncs: number;
  /** Buckets launched while backward was still running (overlapped with it), summed over synchronisations. */
  bucketsLaunchedDuringBackward: number;
  /** Milliseconds backward spent waiting for all-reduce after its last gradient (communication not hidden). */
  waitMs: number;
}

export class DistributedDataParallel<M extends Module = Module> {
  readonly module: M;
  private id: number;

  /**
   * Wraps `module` after broadcasting its trainable parameters and its buffers from rank 0, so that every rank
   * starts from the same weights (frozen ones are loaded from the same files and stay as they are).
   */
  static async create<M extends Module>(
    module: M,
    opts: DistributedDataParallelOptions = {},
  ): Promise<DistributedDataParallel<M>> {
    const trainable = [...module.namedParameters()].filter(([, p]) => p.requiresGrad);
    await broadcastCoalesced([...trainable.map(([, p]) => p), ...module.buffers()], 0);
    return new DistributedDataParallel(
      module,
      trainable.map(([n]) => n),
      opts,
    );
  }

  private constructor(module: M, names: string[], opts: DistributedDataParallelOptions) {
    const capMB = opts.bucketCapMB ?? 25;
    if (!(capMB > 0) || capMB > 1 << 16) throw new Error(`bucketCapMB must be in (0, 65536], got ${capMB}`);
    this.module = module;
    const byName = new Map(module.namedParameters());
    this.id = N.ddpCreate(
      names.map((n) => arg(byName.get(n))),
      names,
      Math.round(capMB * 1024 * 1024),
      opts.findUnusedParameters ?? false,
    );
  }

  /** The wrapped module, run through call() (its hooks and memory scope). */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    return (this.module as Module & { forward(...a: unknown[]): ReturnType<M['forward']> }).call(...args);
  }

  /**
   * Runs `fn` with gradient averaging off: backward passes inside accumulate local gradients only, and the next
   * backward outside averages the accumulated sum (gradient accumulation without a sync per micro-batch).
   */
  noSync<T>(fn: () => T): T {
    const was: boolean = N.ddpSetSync(this.id, false);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      N.ddpSetSync(this.id, was);
      throw e;
    }
    if (result instanceof Promise) {
      return result.finally(() => N.ddpSetSync(this.id, was)) as T;
    }
    N.ddpSetSync(this.id, was);
    return result;
  }

  /** Turns gradient averaging on or off until changed (PyTorch's require_backward_grad_sync); `noSync` scopes it. */
  setRequireBackwardGradSync(on: boolean): void {
    N.ddpSetSync(this.id, on);
  }

  stats(): GradientSyncStats {
    return N.ddpStats(this.id);
  }

  /** Stops averaging (the module itself is left as it is). */
  dispose(): void {
    if (this.id > 0) N.ddpDispose(this.id);
    this.id = -1;
  }
}
