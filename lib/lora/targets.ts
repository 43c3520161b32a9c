// Which modules to adapt, with PEFT's target_modules semantics.
import type { Module } from '../nn/module';
import { pyFullmatch } from './safe-regex';

/**
 * - a list of names: a module matches when its dotted name equals an entry or ends with '.' + entry ('q_lin');
 * - a string (as in PEFT, Python syntax, matched in linear time by SafeRegex) or a RegExp: the whole dotted name
 *   must match (re.fullmatch);
 * - a predicate over (name, module).
 */
export type TargetSpec = string[] | RegExp | string | ((name: string, module: Module) => boolean);

export function matchesTarget(spec: TargetSpec, name: string, module: Module): boolean {
  if (typeof spec === 'function') return spec(name, module);
  if (Array.isArray(spec)) return spec.some((t) => name === t || name.endsWith('.' + t));
  if (typeof spec === 'string') return pyFullmatch(spec, name);
  return new RegExp(`^(?:${spec.source})$`, spec.flags.replace('g', '')).test(name); // the caller's own RegExp
}
