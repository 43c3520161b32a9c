// Python-syntax regular expressions from adapter configs (PEFT's target_modules, exclude_modules, rank_pattern,
// alpha_pattern), matched in time linear in the text: the pattern compiles to an NFA that is simulated (Thompson /
// Pike), never backtracked, so `(?:.|.)*(?:.|.)*!` costs what `a*!` costs (issue 14 item 9: it hung the worker).
//
// The subset is what such patterns use: literals, `.`, classes `[a-z\d_]` (negated too), `\d \w \s` and their
// negations, escapes, groups `(...)` `(?:...)` `(?P<name>...)`, `|`, `* + ? {n} {n,} {n,m}` (lazy forms match the
// same strings), `^` and `$`. Backreferences, lookaround, inline flags and possessive quantifiers are refused with
// an error that names the construct, rather than matched differently from Python.

type Node =
  | { kind: 'char'; test: (c: number) => boolean }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; node: Node; min: number; max: number } // max = Infinity for unbounded
  | { kind: 'assert'; at: 'start' | 'end' };

/** Compiled programs above this many instructions are refused: `a{1000}{1000}` must not allocate a million states. */
const MAX_PROGRAM = 20_000;
/** Texts longer than this are refused (module names are short; this keeps one match under a few ms). */
const MAX_TEXT = 10_000;

export class SafeRegex {
  private readonly program: Instr[];

  constructor(readonly source: string) {
    if (typeof source !== 'string') throw new Error(`regular expression must be a string, got ${typeof source}`);
    if (source.length > 2000)
      throw new Error(`regular expression is ${source.length} characters long; at most 2000 are accepted`);
    const ast = new Parser(source).parseAll();
    this.program = compile(ast, source);
  }

  /** Python's re.fullmatch(source, text) is not None. */
  fullmatch(text: string): boolean {
    return simulate(this.program, this.checked(text), true);
  }

  /** Python's re.match(source, text) is not None: a match that starts at the beginning and ends anywhere. */
  match(text: string): boolean {
    return simulate(this.program, this.checked(text), false);
  }

  private checked(text: string): string {
    if (text.length > MAX_TEXT)
      throw new Error(`text to match against /${this.source}/ is longer than ${MAX_TEXT} characters`);
    return text;
  }
}

const cache = new Map<string, SafeRegex>();
/** A compiled pattern, cached (configs repeat the same few patterns for every module of a model). */
export function safeRegex(source: string): SafeRegex {
  let re = cache.get(source);
  if (!re) {
    re = new SafeRegex(source);
    if (cache.size > 1000) cache.clear();
    cache.set(source, re);
  }
  return re;
}

/** re.fullmatch(pattern, text). */
export function pyFullmatch(pattern: string, text: string): boolean {
  return safeRegex(pattern).fullmatch(text);
}

/** PEFT's rank_pattern / alpha_pattern lookup: re.match(rf"(.*\.)?({key})$", name). */
export function pyPatternKeyMatches(key: string, name: string): boolean {
  return safeRegex(`(?:.*\\.)?(?:${key})$`).match(name);
}

// ------------------------------------------------------------------------------------------------ parser
const isDigit = (c: number) => c >= 48 && c <= 57;
const isWord = (c: number) =>
  isDigit(c) ||
  (c >= 65 && c <= 90) ||
  (c >= 97 && c <= 122) ||
  c === 95 ||
  (c > 127 && /[\p{L}\p{N}_]/u.test(String.fromCodePoint(c)));
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/u.test(String.fromCodePoint(c)));

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parseAll(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) this.fail(`unbalanced ')'`);
    return node;
  }

  private fail(what: string): never {
    throw new Error(`regular expression /${this.src}/: ${what} at position ${this.i}`);
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: 'alt', options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      items.push(this.quantified(this.atom()));
    }
    return { kind: 'seq', items };
  }

  private quantified(atom: Node): Node {
    let node = atom;
    for (;;) {
      const c = this.src[this.i];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{' && /^\{\d*(,\d*)?\}/.test(this.src.slice(this.i))) {
        const m = /^\{(\d*)(,(\d*))?\}/.exec(this.src.slice(this.i))!;
        if (m[1] === '' && m[2] === undefined) return node; // '{}' is a literal in Python
        min = m[1] === '' ? 0 : Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (min > 1000 || (max !== Infinity && max > 1000)) this.fail('a repetition count above 1000');
        if (max < min) this.fail('a repetition {n,m} with m < n');
        this.i += m[0].length - 1;
      } else {
        return node;
      }
      if (node.kind === 'assert') this.fail('a quantified anchor');
      this.i++;
      if (this.src[this.i] === '?')
        this.i++; // lazy: the same set of full matches
      else if (this.src[this.i] === '+') this.fail('a possessive quantifier (not supported)');
      if (this.src[this.i] === '*' || this.src[this.i] === '+' || this.src[this.i] === '?')
        this.fail('multiple repeat');
      node = { kind: 'repeat', node, min, max };
    }
  }

  private atom(): Node {
    const c = this.src[this.i];
    if (c === '(') return this.group();
    if (c === '[') return this.charClass();
    if (c === '*' || c === '+' || c === '?') this.fail('nothing to repeat');
    this.i++;
    if (c === '.') return { kind: 'char', test: (x) => x !== 10 };
    if (c === '^') return { kind: 'assert', at: 'start' };
    if (c === '$') return { kind: 'assert', at: 'end' };
    if (c === '\\') return { kind: 'char', test: this.escape(false) };
    const code = c.codePointAt(0)!;
    if (code > 0xffff) this.i++;
    return { kind: 'char', test: (x) => x === code };
  }

  private group(): Node {
    this.i++;
    if (this.src[this.i] === '?') {
      const rest = this.src.slice(this.i);
      if (rest.startsWith('?:')) this.i += 2;
      else if (/^\?P<[A-Za-z_]\w*>/.test(rest)) this.i += /^\?P<[A-Za-z_]\w*>/.exec(rest)![0].length;
      else this.fail(`the group '(${rest.slice(0, 3)}' (lookaround, flags and backreferences are not supported)`);
    }
    const inner = this.alternation();
    if (this.src[this.i] !== ')') this.fail(`missing ')'`);
    this.i++;
    return inner;
  }

  // After a backslash: a predicate for the escaped character or class.
  private escape(inClass: boolean): (c: number) => boolean {
    const e = this.src[this.i++];
    if (e === undefined) this.fail('a trailing backslash');
    switch (e) {
      case 'd':
        return isDigit;
      case 'D':
        return (c) => !isDigit(c);
      case 'w':
        return isWord;
      case 'W':
        return (c) => !isWord(c);
      case 's':
        return isSpace;
      case 'S':
        return (c) => !isSpace(c);
      case 'n':
        return (c) => c === 10;
      case 't':
        return (c) => c === 9;
      case 'r':
        return (c) => c === 13;
      case 'f':
        return (c) => c === 12;
      case 'v':
        return (c) => c === 11;
      default:
        if (/[A-Za-z0-9]/.test(e)) this.fail(`the escape '\\${e}'${inClass ? ' in a class' : ''} (not supported)`);
        return (c) => c === e.charCodeAt(0);
    }
  }

  private charClass(): Node {
    this.i++;
    const negate = this.src[this.i] === '^';
    if (negate) this.i++;
    const parts: ((c: number) => boolean)[] = [];
    let first = true;
    for (;;) {
      if (this.i >= this.src.length) this.fail(`unterminated character class`);
      const c = this.src[this.i];
      if (c === ']' && !first) break;
      first = false;
      let lo: number | null;
      if (c === '\\') {
        this.i++;
        const pred = this.escape(true);
        const single = this.src[this.i - 1];
        if (/[dDwWsS]/.test(single)) {
          parts.push(pred);
          continue;
        }
        lo = ({ n: 10, t: 9, r: 13, f: 12, v: 11 } as Record<string, number>)[single] ?? single.charCodeAt(0);
      } else {
        lo = c.codePointAt(0)!;
        this.i += lo > 0xffff ? 2 : 1;
      }
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        let hi: number;
        if (this.src[this.i] === '\\') {
          this.i++;
          const e = this.src[this.i++];
          if (/[A-Za-z0-9]/.test(e ?? '')) this.fail('a class range ending in an escape (not supported)');
          hi = e.charCodeAt(0);
        } else {
          hi = this.src.codePointAt(this.i)!;
          this.i += hi > 0xffff ? 2 : 1;
        }
        if (hi < lo) this.fail('a bad character range');
        const from = lo;
        parts.push((x) => x >= from && x <= hi);
      } else {
        const only = lo;
        parts.push((x) => x === only);
      }
    }
    this.i++;
    return { kind: 'char', test: (x) => parts.some((p) => p(x)) !== negate };
  }
}

// ------------------------------------------------------------------------------------------------ NFA
type Instr =
  | { op: 'char'; test: (c: number) => boolean }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'assert'; at: 'start' | 'end' }
  | { op: 'match' };

function compile(ast: Node, source: string): Instr[] {
  const prog: Instr[] = [];
  const emit = (i: Instr) => {
    if (prog.length >= MAX_PROGRAM)
      throw new Error(`regular expression /${source}/ is too large once its repetitions are expanded`);
    prog.push(i);
    return prog.length - 1;
  };
  const gen = (n: Node): void => {
    switch (n.kind) {
      case 'char':
        emit({ op: 'char', test: n.test });
        return;
      case 'assert':
        emit({ op: 'assert', at: n.at });
        return;
      case 'seq':
        n.items.forEach(gen);
        return;
      case 'alt': {
        const jumps: number[] = [];
        n.options.forEach((opt, k) => {
          if (k === n.options.length - 1) {
            gen(opt);
            return;
          }
          const split = emit({ op: 'split', x: 0, y: 0 });
          (prog[split] as { x: number }).x = prog.length;
          gen(opt);
          jumps.push(emit({ op: 'jmp', x: 0 }));
          (prog[split] as { y: number }).y = prog.length;
        });
        for (const j of jumps) (prog[j] as { x: number }).x = prog.length;
        return;
      }
      case 'repeat': {
        for (let k = 0; k < n.min; k++) gen(n.node);
        if (n.max === Infinity) {
          const split = emit({ op: 'split', x: prog.length + 1, y: 0 });
          gen(n.node);
          emit({ op: 'jmp', x: split });
          (prog[split] as { y: number }).y = prog.length;
        } else {
          const splits: number[] = [];
          for (let k = n.min; k < n.max; k++) {
            splits.push(emit({ op: 'split', x: prog.length + 1, y: 0 }));
            gen(n.node);
          }
          for (const s of splits) (prog[s] as { y: number }).y = prog.length;
        }
      }
    }
  };
  gen(ast);
  emit({ op: 'match' });
  return prog;
}

// Thompson simulation: the set of live states advances one character at a time; each state is visited at most once
// per position, so the cost is O(text length × program size).
function simulate(prog: Instr[], text: string, wholeText: boolean): boolean {
  const chars = Array.from(text, (ch) => ch.codePointAt(0)!);
  const seen = new Int32Array(prog.length).fill(-1);
  let current: number[] = [];
  let next: number[] = [];
  const add = (list: number[], pc: number, pos: number, mark: number) => {
    const stack = [pc];
    while (stack.length) {
      const p = stack.pop()!;
      if (seen[p] === mark) continue;
      seen[p] = mark;
      const ins = prog[p];
      if (ins.op === 'jmp') stack.push(ins.x);
      else if (ins.op === 'split') stack.push(ins.y, ins.x);
      else if (ins.op === 'assert') {
        // Python's '$' also matches just before a final newline.
        const atEnd = pos === chars.length || (pos === chars.length - 1 && chars[pos] === 10);
        if (ins.at === 'start' ? pos === 0 : atEnd) stack.push(p + 1);
      } else list.push(p);
    }
  };
  const matched = () => current.some((pc) => prog[pc].op === 'match');
  add(current, 0, 0, 0);
  for (let pos = 0; pos < chars.length; pos++) {
    if (!wholeText && matched()) return true;
    next = [];
    for (const pc of current) {
      const ins = prog[pc];
      if (ins.op === 'char' && ins.test(chars[pos])) add(next, pc + 1, pos + 1, pos + 1);
    }
    current = next;
    if (current.length === 0) return false;
  }
  return matched();
}
