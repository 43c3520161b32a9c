// Which modules to adapt, with PEFT's target_modules semantics.
import type { Module } from '../nn/module';

/**
 * - a list of names: a module matches when its dotted name equals an entry or ends with '.' + entry ('q_lin');
 * - a RegExp (or a string, as in PEFT): the whole dotted name must match;
 * - a predicate over (name, module).
 */
export type TargetSpec = string[] | RegExp | string | ((name: string, module: Module) => boolean);

export function matchesTarget(spec: TargetSpec, name: string, module: Module): boolean {
  if (typeof spec === 'function') return spec(name, module);
  if (Array.isArray(spec)) return spec.some((t) => name === t || name.endsWith('.' + t));
  const re = typeof spec === 'string' ? new RegExp(`^(?:${spec})$`) : new RegExp(`^(?:${spec.source})$`, spec.flags.replace('g', ''));
  return re.test(name);
}
