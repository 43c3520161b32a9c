// Tensor lifetimes. Tensors made inside `tidy` belong to its scope and are freed when it ends, without any
// per-tensor finalizer cost; tensors made outside any scope, or that escape one, get a GC finalizer as a
// safety net. `dispose()` (or `using`) frees a tensor at once.
import { N } from './native';

export interface Disposable {
  _h: number;
  _kept: boolean;
  _registered: boolean;
  dispose(): void;
}

interface Scope {
  items: Disposable[];
  /** Length at which disposed entries are swept out, so a long loop that disposes as it goes stays small. */
  sweepAt: number;
}
const MIN_SWEEP = 1024;

const scopes: Scope[] = [];
let top: Scope | null = null;

const finalizers = new FinalizationRegistry<number>((h) => N.dispose(h));

// Registering a finalizer costs more than a small op, and most tensors made outside a scope are disposed (or
// `using`-freed) within the same synchronous run. So they wait here and are registered at the next microtask,
// or as soon as this many are waiting; the disposed ones are skipped.
const unregistered: Disposable[] = [];
const MAX_UNREGISTERED = 4096;
let flushQueued = false;

export function track(t: Disposable): void {
  if (top === null) {
    unregistered.push(t);
    if (unregistered.length >= MAX_UNREGISTERED) registerWaiting();
    else if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(registerWaiting);
    }
    return;
  }
  const items = top.items;
  if (items.length >= top.sweepAt) {
    sweep(items);
    top.sweepAt = Math.max(MIN_SWEEP, 2 * items.length);
  }
  items.push(t);
}

function sweep(items: Disposable[]): void {
  let live = 0;
  for (const t of items) if (t._h >= 0) items[live++] = t;
  items.length = live;
}

function registerWaiting(): void {
  flushQueued = false;
  for (const t of unregistered) {
    if (t._registered || t._h < 0) continue;
    t._registered = true;
    finalizers.register(t, t._h, t);
  }
  unregistered.length = 0;
}

export function untrack(t: Disposable): void {
  if (t._registered) {
    finalizers.unregister(t);
    t._registered = false;
  }
}

/** Runs fn and frees every tensor it created, except the ones it returns (anywhere inside what it returns) or `keep`s. */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { items: [], sweepAt: MIN_SWEEP };
  scopes.push(scope);
  top = scope;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    endScope(scope, null);
    throw e;
  }
  if (result instanceof Promise) {
    endScope(scope, null);
    throw new Error('tidy: fn returned a Promise; tidy only tracks synchronous code (await outside of tidy)');
  }
  // A single returned tensor (the usual case, once per module forward) needs no Set.
  endScope(scope, isDisposable(result) ? result : collect(result, new Set()));
  return result;
}

function isDisposable(value: unknown): value is Disposable {
  return value !== null && typeof value === 'object' && '_h' in value && '_kept' in value;
}

function endScope(scope: Scope, survivors: Set<Disposable> | Disposable | null): void {
  scopes.pop();
  top = scopes.length ? scopes[scopes.length - 1] : null;
  const survives =
    survivors === null
      ? () => false
      : survivors instanceof Set
        ? (t: Disposable) => survivors.has(t)
        : (t: Disposable) => t === survivors;
  const dead: number[] = [];
  for (const t of scope.items) {
    if (t._h < 0) continue;
    if (t._kept || survives(t)) track(t);
    else {
      dead.push(t._h);
      t._h = -1;
    }
  }
  if (dead.length) N.disposeMany(dead);
}

/**
 * The tensors reachable from `value`. tidy walks every object graph (class instances, Sets, Maps, any depth) with a
 * seen-set, as tfjs' getTensorsInContainer does, so nothing the caller gets back is freed: before issue 13 it looked
 * into plain objects, arrays and Maps only, 6 levels deep, and freed a tensor returned inside a class instance.
 * Tensors themselves, typed arrays and functions are not walked into. `dispose` walks plain containers only (arrays,
 * Maps, Sets, plain objects): disposing a result must not free the weights of a module it refers to.
 */
function collect(
  value: unknown,
  into: Set<Disposable>,
  intoInstances = true,
  seen = new Set<object>(),
): Set<Disposable> {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if ('_h' in v && '_kept' in v) into.add(v as Disposable);
    else if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (v instanceof Map) v.forEach((x, k) => stack.push(k, x));
    else if (v instanceof Set) v.forEach((x) => stack.push(x));
    else if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    else if (intoInstances || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return into;
}

/** Keeps a tensor alive past the end of every enclosing `tidy`; free it later with `dispose()`. */
export function keep<T extends Disposable>(t: T): T {
  t._kept = true;
  return t;
}

/** Frees tensors (or arrays/objects of tensors) now. */
export function dispose(value: unknown): void {
  collect(value, new Set(), false).forEach((t) => t.dispose());
}

export interface MemoryInfo {
  numTensors: number;
  numBytes: number;
  bytesByDevice: Record<string, number>;
  /** Free CPU memory kept by the caching allocator for reuse (0 unless `cpu.enableTuning()`); `cpu.emptyCache()` frees it. */
  cpuCachedBytes: number;
}

/** Live tensors and their bytes per device (a storage shared by views counts once). */
export function memory(): MemoryInfo {
  const m = N.memory();
  return {
    numTensors: m.numTensors,
    numBytes: m.numBytes,
    bytesByDevice: m.bytesByDevice,
    cpuCachedBytes: N.cpuTuning().cachedBytes,
  };
}

export function inTidy(): boolean {
  return top !== null;
}
