// Sequential, ModuleList and ModuleDict.
import { Module } from './module';

export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.registerModule(String(i), m));
  }
  /** Runs every module in order; a module that appears twice (the same instance) runs twice, as in PyTorch. */
  forward(x: unknown): unknown {
    let out = x;
    for (const m of this._modules.values()) if (m) out = (m as Module & { forward(a: unknown): unknown }).call(out);
    return out;
  }
  get length(): number {
    return this._modules.size;
  }
  at(i: number): Module {
    return this.getSubmodule(String(i < 0 ? this._modules.size + i : i));
  }
}

export class ModuleList<M extends Module = Module> extends Module {
  constructor(modules: M[] = []) {
    super();
    modules.forEach((m) => this.append(m));
  }
  append(m: M): this {
    this.registerModule(String(this._modules.size), m);
    return this;
  }
  get length(): number {
    return this._modules.size;
  }
  at(i: number): M {
    return this.getSubmodule(String(i < 0 ? this._modules.size + i : i)) as M;
  }
  [Symbol.iterator](): Iterator<M> {
    return ([...this._modules.values()].filter((m) => m !== null) as M[])[Symbol.iterator]();
  }
  forward(): never {
    throw new Error('ModuleList is a container and has no forward(); iterate over it');
  }
}

export class ModuleDict<M extends Module = Module> extends Module {
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.set(k, m);
  }
  set(key: string, m: M): this {
    this.registerModule(key, m);
    return this;
  }
  get(key: string): M | undefined {
    return (this._modules.get(key) ?? undefined) as M | undefined;
  }
  has(key: string): boolean {
    return this._modules.has(key);
  }
  delete(key: string): boolean {
    delete (this as unknown as Record<string, unknown>)[key];
    return this._modules.delete(key);
  }
  keys(): string[] {
    return [...this._modules.keys()];
  }
  entries(): [string, M][] {
    return [...this._modules].filter(([, m]) => m !== null) as [string, M][];
  }
  get size(): number {
    return this._modules.size;
  }
  forward(): never {
    throw new Error('ModuleDict is a container and has no forward()');
  }
}
