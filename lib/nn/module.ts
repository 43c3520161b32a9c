// nn.Module: parameters, buffers and child modules registered by name, with PyTorch's traversal and state-dict API.
import type { Tensor } from '../tensor';
import { keep, tidy } from '../scope';
import { noGrad } from '../autograd';
import type { DType } from '../dtype';

export type StateDict = Record<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** PyTorch's forward pre-hook: sees the arguments before forward; returning an array replaces them (a single value: the one argument). */
export type ForwardPreHook = (module: Module, args: unknown[]) => unknown;
/** PyTorch's forward hook: sees the arguments and the output; returning something other than undefined replaces the output. */
export type ForwardHook = (module: Module, args: unknown[], output: unknown) => unknown;
/** What registerForwardHook / registerForwardPreHook return: remove() unregisters the hook (torch.utils.hooks.RemovableHandle). */
export interface RemovableHandle {
  readonly id: number;
  remove(): void;
}

let nextHookId = 0;

export abstract class Module {
  training = true;
  protected readonly _parameters = new Map<string, Tensor | null>();
  protected readonly _buffers = new Map<string, Tensor | null>();
  protected readonly _modules = new Map<string, Module | null>();
  /** Names of buffers registered with persistent=false: they are left out of the state dict. */
  protected readonly _nonPersistentBuffers = new Set<string>();

  private readonly _forwardPreHooks = new Map<number, ForwardPreHook>();
  private readonly _forwardHooks = new Map<number, ForwardHook>();

  abstract forward(...args: never[]): unknown;

  // ------------------------------------------------------------ calling
  /**
   * Runs the module as PyTorch's `module(...)` (`__call__`): forward pre-hooks, `forward`, forward hooks, all inside a
   * memory scope (`tidy`), so every tensor made on the way that is not part of the output is freed when the call
   * returns (autograd keeps what backward needs). Modules call their children with `call`; `forward` alone runs
   * without hooks or scope. A hook that stores a tensor for later (e.g. an activation) must `keep()` it.
   */
  call<A extends unknown[], R>(this: Module & { forward(...args: A): R }, ...args: A): R {
    const self = this as Module;
    if (self._forwardPreHooks.size === 0 && self._forwardHooks.size === 0) return tidy(() => this.forward(...args));
    return tidy(() => {
      let input: unknown[] = args;
      for (const hook of [...self._forwardPreHooks.values()]) {
        const replaced = hook(this, input);
        if (replaced !== undefined) input = Array.isArray(replaced) ? replaced : [replaced];
      }
      let output: unknown = this.forward(...(input as A));
      for (const hook of [...self._forwardHooks.values()]) {
        const replaced = hook(this, input, output);
        if (replaced !== undefined) output = replaced;
      }
      return output as R;
    });
  }
  /** Adds a hook run before every `call` (PyTorch's register_forward_pre_hook), in the order registered. */
  registerForwardPreHook(hook: ForwardPreHook): RemovableHandle {
    return addHook(this._forwardPreHooks, hook);
  }
  /** Adds a hook run after every `call`'s forward (PyTorch's register_forward_hook), in the order registered. */
  registerForwardHook(hook: ForwardHook): RemovableHandle {
    return addHook(this._forwardHooks, hook);
  }

  // ------------------------------------------------------------ registration
  /** Registers a parameter (it requires grad unless told otherwise) and sets it as a property of the same name. */
  registerParameter(name: string, t: Tensor | null, requiresGrad = true): Tensor {
    if (t) {
      keep(t);
      if (t.requiresGrad !== requiresGrad) t.requiresGrad_(requiresGrad);
    }
    this._parameters.set(name, t);
    this.setProperty(name, t);
    return t as Tensor;
  }
  /** Registers a buffer; a non-persistent one (persistent=false) is not part of the state dict, as in PyTorch. */
  registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor {
    if (t) keep(t);
    this._buffers.set(name, t);
    if (persistent) this._nonPersistentBuffers.delete(name);
    else this._nonPersistentBuffers.add(name);
    this.setProperty(name, t);
    return t as Tensor;
  }
  registerModule<M extends Module | null>(name: string, m: M): M {
    if (name.includes('.') || name === '')
      throw new Error(`module name '${name}' must be non-empty and contain no '.'`);
    this._modules.set(name, m);
    this.setProperty(name, m);
    return m;
  }
  /** Replaces a child by name, as `setattr(parent, name, module)` does in PyTorch. */
  setChild(name: string, m: Module): void {
    if (!this._modules.has(name)) throw new Error(`${this.constructor.name} has no child module '${name}'`);
    this.registerModule(name, m);
  }
  getChild(name: string): Module | null {
    return this._modules.get(name) ?? null;
  }
  /** The submodule at a dotted path such as 'distilbert.transformer.layer.0'. */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk starts here and moves down
    let m: Module = this;
    for (const part of path.split('.')) {
      const next = m._modules.get(part);
      if (!next) throw new Error(`${m.constructor.name} has no submodule '${part}' (in path '${path}')`);
      m = next;
    }
    return m;
  }
  /** Replaces a parameter tensor (e.g. after moving it to another device); the old one is disposed. */
  protected replaceParameter(name: string, t: Tensor): void {
    const old = this._parameters.get(name);
    this.registerParameter(name, t, old ? old.requiresGrad : true);
    if (old && old !== t) old.dispose();
  }
  private setProperty(name: string, value: unknown): void {
    (this as unknown as Record<string, unknown>)[name] = value;
  }

  // ------------------------------------------------------------ traversal
  /** Direct children; a module registered under several names is yielded once (under its first name), as in PyTorch. */
  *namedChildren(): Generator<[string, Module]> {
    const seen = new Set<Module>();
    for (const [n, m] of this._modules) {
      if (!m || seen.has(m)) continue;
      seen.add(m);
      yield [n, m];
    }
  }
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  *namedModules(prefix = '', seen = new Set<Module>()): Generator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, seen);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }
  *namedParameters(prefix = '', recurse = true): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [n, p] of m._parameters) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        yield [mp ? `${mp}.${n}` : n, p];
      }
    }
  }
  parameters(recurse = true): Tensor[] {
    return [...this.namedParameters('', recurse)].map(([, p]) => p);
  }
  *namedBuffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [n, b] of m._buffers) {
        if (!b || seen.has(b)) continue;
        seen.add(b);
        yield [mp ? `${mp}.${n}` : n, b];
      }
    }
  }
  buffers(recurse = true): Tensor[] {
    return [...this.namedBuffers('', recurse)].map(([, b]) => b);
  }
  /** Calls fn on every submodule (children first) and then on this module, like Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  // ------------------------------------------------------------ modes and placement
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /**
   * Moves or casts every parameter and buffer (floating dtypes only are cast, as in PyTorch). A tensor shared by
   * several modules (tied weights) is converted once and stays shared. The parameters are new tensors (the old ones
   * are disposed as the conversion goes, so the model is never held twice): build the optimizer after calling this.
   */
  to(target: string | DType | { device?: string; dtype?: DType }): this {
    const opts =
      typeof target === 'string' ? (isDevice(target) ? { device: target } : { dtype: target as DType }) : target;
    // Tensor by tensor, each old one freed as soon as no module holds it any more (as PyTorch's _apply does):
    // the peak is the model once plus its largest tensor, not the model twice (a bf16 cast of DistilBERT-base
    // would otherwise hold 265 MB of float32 weights beside the new ones).
    const slots: [Module, Map<string, Tensor | null>, string, Tensor][] = [];
    const holders = new Map<Tensor, number>();
    for (const m of this.modules()) {
      for (const table of [m._parameters, m._buffers]) {
        for (const [n, t] of table) {
          if (!t) continue;
          slots.push([m, table, n, t]);
          holders.set(t, (holders.get(t) ?? 0) + 1);
        }
      }
    }
    const converted = new Map<Tensor, Tensor>();
    noGrad(() => {
      for (const [m, table, n, t] of slots) {
        let out = converted.get(t);
        if (!out) {
          out = t.to({ device: opts.device, dtype: isFloatDType(t.dtype) ? opts.dtype : undefined });
          converted.set(t, out);
        }
        if (table === m._parameters) m.registerParameter(n, out, t.requiresGrad);
        else m.registerBuffer(n, out, !m._nonPersistentBuffers.has(n));
        const left = holders.get(t)! - 1;
        holders.set(t, left);
        if (left === 0 && out !== t) t._disposeUncached();
      }
    });
    return this;
  }
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }

  // ------------------------------------------------------------ state dict
  /**
   * Parameters and persistent buffers under PyTorch's dotted names, in PyTorch's order (a module's own parameters,
   * then its buffers, then each child's entries). As in PyTorch, a module or tensor registered under several names
   * appears under each of them. The values are the module's own tensors: do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = {};
    const visit = (m: Module, mp: string) => {
      for (const [n, p] of m._parameters) if (p) out[mp ? `${mp}.${n}` : n] = p;
      for (const [n, b] of m._buffers) if (b && !m._nonPersistentBuffers.has(n)) out[mp ? `${mp}.${n}` : n] = b;
      for (const [n, c] of m._modules) if (c) visit(c, mp ? `${mp}.${n}` : n);
    };
    visit(this, prefix);
    return out;
  }
  /**
   * Copies tensors into this module's parameters and buffers, checking shapes; strict mode throws on missing or
   * unexpected keys, with PyTorch's message. Nothing is copied when it throws.
   */
  loadStateDict(sd: StateDict | Map<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const source = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !(k in own));
    const errors: string[] = [];
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      if (missingKeys.length)
        errors.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}. `);
      if (unexpectedKeys.length)
        errors.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}. `);
    }
    for (const [k, target] of Object.entries(own)) {
      const src = source.get(k);
      if (!src) continue;
      const a = target.shape;
      const b = src.shape;
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
        errors.push(
          `size mismatch for ${k}: copying a param with shape ${torchSize(b)} from checkpoint, the shape in current model is ${torchSize(a)}.`,
        );
      }
    }
    if (errors.length)
      throw new Error(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`);
    noGrad(() => {
      for (const [k, target] of Object.entries(own)) {
        const src = source.get(k);
        if (src) target.copy_(src);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Why this module's weights cannot be saved as a plain checkpoint, or null (the default). A wrapper whose state
   * dict does not have the base model's keys (LinearWithLoRA) says so here, and savePretrained refuses the model
   * naming it, without the models layer knowing the wrapper's class.
   */
  saveBlocker(): string | null {
    return null;
  }

  // ------------------------------------------------------------ printing
  /** The part inside the parentheses of this module's line, e.g. 'in_features=768, out_features=2, bias=True'. */
  extraRepr(): string {
    return '';
  }
  /** The same text as PyTorch's repr(module) / print(model). */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines: string[] = [];
    for (const [n, m] of this._modules) {
      const child = (m ? m.toString() : 'None').split('\n').join('\n  ');
      childLines.push(`(${n}): ${child}`);
    }
    const lines = [...extraLines, ...childLines];
    let out = `${this.constructor.name}(`;
    if (lines.length) {
      if (extraLines.length === 1 && childLines.length === 0) out += extraLines[0];
      else out += `\n  ${lines.join('\n  ')}\n`;
    }
    return `${out})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** Frees every parameter and buffer now. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) t.dispose();
  }
}

function addHook<H>(hooks: Map<number, H>, hook: H): RemovableHandle {
  const id = nextHookId++;
  hooks.set(id, hook);
  return {
    id,
    remove: () => {
      hooks.delete(id);
    },
  };
}

const torchSize = (shape: number[]) => `torch.Size([${shape.join(', ')}])`;
const isDevice = (s: string) => s === 'cpu' || s.startsWith('cuda') || s === 'meta';
const isFloatDType = (d: DType) => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
