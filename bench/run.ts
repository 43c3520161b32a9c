/**
 * `npm run bench`: every workload in torch-lora and in PyTorch, back to back, each in a fresh child process so that
 * the peak memory is the workload's own; then one table and a JSON file (bench/results/<date>-<device>.json and
 * bench/results/latest.json).
 *
 *   npm run bench -- [--quick] [--only infer-b1,train-lora] [--device cuda] [--dtype bf16|fp32,bf16] [--threads N]
 *                    [--pytorch-malloc-tuned] [--no-python] [--out DIR] [--rounds N] [--cpu-tuning malloc|on|off]
 *
 * The ratio is torch-lora's time over PyTorch's (for rates, PyTorch's rate over torch-lora's): lower is better,
 * below 1 means torch-lora is faster. The PyTorch side is bench/pytorch_bench.py, run with $PYTHON, or the project's
 * .venv (PyTorch 2.x + transformers + peft), or /usr/bin/python3 when it imports torch, or python3.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { backend } from '../lib';
import type { MeasuredWorkload, Metric, WorkloadResult } from './workloads';
import { WORKLOAD_NAMES } from './workloads';
import { repoRoot } from './repo-root';
import type { AtenFloor } from './aten-floor';
import { measureAtenFloor } from './aten-floor';

interface Options {
  quick: boolean;
  only: string[] | null;
  device: string;
  dtypes: ('fp32' | 'bf16' | 'amp')[];
  threads: number;
  tiny: boolean;
  python: boolean;
  /** Run PyTorch with glibc malloc tuned the way torch-lora tunes it (like for like; see docs/performance.md). */
  pytorchMallocTuned: boolean;
  out: string | null;
  /** Alternating runs of each side per workload; null: 3 for the short CPU workloads, 1 for the rest. */
  rounds: number | null;
  /** torch-lora's opt-in CPU tuning in the workload processes (lib/cpu.ts): 'malloc' (allocator + malloc, default), 'on', 'off'. */
  cpuTuning: 'malloc' | 'on' | 'off';
}

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    const a = argv[i];
    return a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
  };
  const has = (name: string) => argv.includes(`--${name}`);
  const device = get('device') ?? 'cpu';
  const dtypeArg = get('dtype');
  const dtypes = (dtypeArg ?? (device.startsWith('cuda') ? 'fp32,bf16' : 'fp32')).split(',').map((d) => {
    if (d === 'bfloat16') return 'bf16';
    if (d === 'float32') return 'fp32';
    if (d !== 'fp32' && d !== 'bf16' && d !== 'amp')
      throw new Error(`--dtype: expected fp32, bf16 (the model cast) or amp (bf16 autocast), got '${d}'`);
    return d;
  });
  const only =
    get('only')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? null;
  for (const w of only ?? [])
    if (!WORKLOAD_NAMES.includes(w) && w !== 'ddp')
      throw new Error(`--only: unknown workload '${w}' (have: ${WORKLOAD_NAMES.join(', ')})`);
  const threads = Number(get('threads') ?? backend.getNumThreads());
  return {
    quick: has('quick'),
    only,
    device,
    dtypes,
    threads,
    tiny: has('tiny'),
    python: !has('no-python'),
    pytorchMallocTuned: has('pytorch-malloc-tuned'),
    out: get('out') ?? null,
    rounds: get('rounds') ? Number(get('rounds')) : null,
    cpuTuning: parseCpuTuning(get('cpu-tuning')),
  };
}

function parseCpuTuning(v: string | undefined): Options['cpuTuning'] {
  if (v === undefined) return 'malloc';
  if (v !== 'malloc' && v !== 'on' && v !== 'off')
    throw new Error(`--cpu-tuning: expected malloc, on or off, got '${v}'`);
  return v;
}

// ------------------------------------------------------------------------------------------------ child processes
function pythonImportsTorch(exe: string): boolean {
  const r = spawnSync(exe, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

// The PyTorch users run: $PYTHON, else the project's venv (PyTorch 2.x + transformers + peft, made by the bootstrap),
// else a python3 that imports torch (Debian's 1.13 when the addon was built against it).
function choosePython(): string {
  if (process.env.PYTHON) return process.env.PYTHON;
  const venv = path.join(repoRoot(), '.venv', 'bin', 'python');
  if (fs.existsSync(venv) && pythonImportsTorch(venv)) return venv;
  if (fs.existsSync('/usr/bin/python3') && pythonImportsTorch('/usr/bin/python3')) return '/usr/bin/python3';
  return 'python3';
}

type SideResult = (WorkloadResult | PyResult) & { skipped?: string; error?: string };
interface PyResult extends MeasuredWorkload {
  side: 'pytorch' | 'hf';
  versions: { torch: string; python: string; hf: boolean; blas_core: string | null };
}

/**
 * glibc settings that give a stock PyTorch process what torch-lora's load-time settings give it: large blocks from
 * the heap and kept for reuse instead of fresh mmaps (torch-lora uses its own caching allocator for those).
 */
export const PYTORCH_TUNED_MALLOC =
  'glibc.malloc.mmap_threshold=33554432:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824';

const SHORT_CPU_WORKLOADS = new Set(['op-overhead', 'infer-b1']);

/** One result from several runs of a side: each metric's median of the runs' medians, all samples, the highest peak. */
function combineRounds(runs: SideResult[]): SideResult {
  const failed = runs.find((r) => r.error || r.skipped);
  if (failed || runs.length === 1) return failed ?? runs[0];
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const maxOf = (xs: (number | null)[]) => (xs.some((x) => x != null) ? Math.max(...xs.map((x) => x ?? 0)) : null);
  const metrics = runs[0].metrics.map((m, i) => {
    const all = runs.map((r) => r.metrics[i]);
    const combined: Metric = {
      ...m,
      median: mid(all.map((a) => a.median)),
      samples: all.flatMap((a) => a.samples),
      rounds: runs.length,
    };
    if (typeof m.cpu_median === 'number') combined.cpu_median = mid(all.map((a) => a.cpu_median as number));
    if (Array.isArray(m.cpu_samples)) combined.cpu_samples = all.flatMap((a) => a.cpu_samples as number[]);
    return combined;
  });
  return {
    ...runs[0],
    metrics,
    wall_s: runs.reduce((t, r) => t + r.wall_s, 0),
    peak_rss_bytes: maxOf(runs.map((r) => r.peak_rss_bytes)),
    peak_device_bytes: maxOf(runs.map((r) => r.peak_device_bytes)),
  };
}

/** Runs one child; its result is the last line of stdout that parses as JSON. */
function runChild(
  exe: string,
  args: string[],
  cwd: string,
  label: string,
  env: NodeJS.ProcessEnv = process.env,
): SideResult {
  const r = spawnSync(exe, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 20 * 60_000, env: { ...env } });
  const lines = (r.stdout ?? '').trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as SideResult;
    } catch {
      /* not the result line */
    }
  }
  const why = r.error
    ? r.error.message
    : `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  return { workload: args[args.indexOf('--workload') + 1], error: `${label} failed (${why})` } as SideResult;
}

// ------------------------------------------------------------------------------------------------ the table
interface Row {
  workload: string;
  dtype: string;
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  torchLora: number | null;
  pytorch: number | null;
  /** torch-lora time / PyTorch time (rates inverted): lower is better. */
  ratio: number | null;
  /** The same from CPU time (this process, all threads): steadier when other work shares the machine. */
  cpuRatio: number | null;
  hf: number | null;
  hfRatio: number | null;
  peakTorchLora: number | null;
  peakPytorch: number | null;
  peakHf: number | null;
  extra: Record<string, unknown>;
}

function ratioOf(
  better: 'lower' | 'higher',
  ours: number | null | undefined,
  theirs: number | null | undefined,
): number | null {
  if (ours == null || theirs == null || !ours || !theirs) return null;
  return better === 'higher' ? theirs / ours : ours / theirs;
}

function peakOf(r: SideResult | undefined, device: string): number | null {
  if (!r || r.error || r.skipped) return null;
  return device.startsWith('cuda') ? r.peak_device_bytes : r.peak_rss_bytes;
}

function rowsFor(
  workload: string,
  dtype: string,
  device: string,
  ts: SideResult,
  py: SideResult | undefined,
  hf: SideResult | undefined,
): Row[] {
  const tsMetrics = ts.metrics ?? [];
  const pyMetrics = py?.metrics ?? [];
  const hfMetrics = hf?.metrics ?? [];
  const names = [
    ...tsMetrics.map((m) => m.name),
    ...pyMetrics.map((m) => m.name).filter((n) => !tsMetrics.some((m) => m.name === n)),
  ];
  return names.map((name, i) => {
    const a = tsMetrics.find((m) => m.name === name);
    // a torch-lora measurement may name the PyTorch measurement it compares with (compare_to)
    const target = (a?.compare_to as string | undefined) ?? name;
    const b = pyMetrics.find((m) => m.name === target);
    // transformers' rows carry an "HF " / "HF+peft " prefix on the same measurement
    const h = hfMetrics.find((m) => m.name.replace(/^HF(\+peft)? /, '') === target);
    const better = (a ?? b)!.better;
    return {
      workload,
      dtype,
      metric: name,
      unit: (a ?? b)!.unit,
      better,
      torchLora: a?.median ?? null,
      pytorch: b?.median ?? null,
      ratio: ratioOf(better, a?.median, b?.median),
      cpuRatio: ratioOf(better, a?.cpu_median as number | undefined, b?.cpu_median as number | undefined),
      hf: h?.median ?? null,
      hfRatio: ratioOf(better, a?.median, h?.median),
      peakTorchLora: i === 0 ? peakOf(ts, device) : null,
      peakPytorch: i === 0 ? peakOf(py, device) : null,
      peakHf: i === 0 ? peakOf(hf, device) : null,
      extra: { torchLora: extras(a), pytorch: extras(b) },
    };
  });
}

function extras(m: Metric | undefined): Record<string, unknown> {
  if (!m) return {};
  const { name: _n, unit: _u, median: _m, samples: _s, better: _b, cpu_samples: _cs, ...rest } = m;
  return rest;
}

const fmtNum = (v: number | null, digits = 3): string => {
  if (v == null) return '-';
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  if (Math.abs(v) >= 10) return v.toFixed(2);
  return v.toFixed(digits);
};
const fmtMiB = (b: number | null) => (b == null ? '' : `${(b / 2 ** 20).toFixed(0)} MiB`);

/** A Markdown table (it reads as plain text too). */
export function formatTable(rows: Row[], withHf: boolean): string {
  const head = [
    'workload',
    'measure',
    'unit',
    'torch-lora',
    'PyTorch',
    'ratio',
    'ratio (CPU time)',
    'peak mem torch-lora',
    'peak mem PyTorch',
  ];
  if (withHf) head.push('HF+peft', 'ratio vs HF', 'peak mem HF');
  const body = rows.map((r) => {
    const cells = [
      r.dtype === 'fp32' ? r.workload : `${r.workload} (${r.dtype})`,
      r.metric,
      r.unit,
      fmtNum(r.torchLora),
      fmtNum(r.pytorch),
      r.ratio == null ? '-' : r.ratio.toFixed(2),
      r.cpuRatio == null ? '-' : r.cpuRatio.toFixed(2),
      fmtMiB(r.peakTorchLora),
      fmtMiB(r.peakPytorch),
    ];
    if (withHf) cells.push(fmtNum(r.hf), r.hfRatio == null ? '-' : r.hfRatio.toFixed(2), fmtMiB(r.peakHf));
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i >= 3 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function gpuName(python: string): string | null {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.cuda.get_device_name(0))'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return r.status === 0 ? r.stdout.trim() : null;
}

// ------------------------------------------------------------------------------------------------ main
/** The op-overhead floor next to PyTorch's time: what is left for a binding to win. */
function floorLines(floor: AtenFloor, rows: Row[]): string[] {
  const lines = [
    'op-overhead floor, the same chains in C++ against the same libtorch (us/op, and as a ratio to PyTorch):',
  ];
  for (const row of rows.filter((r) => r.workload === 'op-overhead' && !r.metric.includes('dispose'))) {
    const [, op, size] = /^(.*) (\d+x\d+)$/.exec(row.metric) ?? [];
    const cell = (path: string) => {
      const us = floor.us_per_op[`${op} ${path} ${size}`];
      return us === undefined ? '-' : `${us.toFixed(3)}${row.pytorch ? ` (${(us / row.pytorch).toFixed(2)})` : ''}`;
    };
    lines.push(
      `  ${row.metric}: PyTorch ${fmtNum(row.pytorch)}, torch-lora ${fmtNum(row.torchLora)}; C++ through the dispatcher ${cell('dispatcher')}, C++ calling the CPU kernel ${cell('cpu kernel')}`,
    );
  }
  return lines;
}

function main(): void {
  const opts = parseOptions(process.argv.slice(2));
  const root = repoRoot();
  // ddp is a multi-process job with its own table (bench/ddp.ts), torch-lora only.
  if (opts.only?.includes('ddp')) {
    const out = path.join(opts.out ?? path.join(root, 'bench', 'results'), 'ddp-latest.json');
    spawnSync(
      process.execPath,
      [path.join(__dirname, 'ddp.js'), '--out', out, ...(opts.tiny || opts.quick ? ['--tiny'] : [])],
      { cwd: root, stdio: 'inherit' },
    );
    opts.only = opts.only.filter((w) => w !== 'ddp');
    if (opts.only.length === 0) return;
  }
  const workloadsJs = path.join(__dirname, 'workloads.js');
  const pyScript = path.join(root, 'bench', 'pytorch_bench.py');
  const python = choosePython();
  const names = opts.only ?? WORKLOAD_NAMES;
  const hfAvailable =
    opts.python &&
    spawnSync(python, ['-c', 'import transformers, peft'], { stdio: 'ignore', timeout: 120_000 }).status === 0;
  const started = new Date();
  const tsEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TORCH_LORA_CPU_TUNING: opts.cpuTuning === 'off' ? '0' : opts.cpuTuning === 'on' ? '1' : 'malloc',
  };
  const pyEnv: NodeJS.ProcessEnv = opts.pytorchMallocTuned
    ? { ...process.env, GLIBC_TUNABLES: PYTORCH_TUNED_MALLOC }
    : process.env;
  const common = (dtype: string) => [
    '--json',
    '--device',
    opts.device,
    '--dtype',
    dtype,
    '--threads',
    String(opts.threads),
    ...(opts.quick ? ['--quick'] : []),
    ...(opts.tiny ? ['--tiny'] : []),
  ];
  console.error(
    `torch-lora bench: ${names.length} workloads, device ${opts.device}, ${opts.dtypes.join('+')}, ${opts.threads} thread(s) each side, python ${python}${hfAvailable ? ' (+ transformers/peft)' : ''}${opts.quick ? ', quick' : ''}`,
  );

  const rows: Row[] = [];
  const raw: Record<string, { torchLora: SideResult; pytorch?: SideResult; hf?: SideResult }> = {};
  const versions: Record<string, string | null> = {
    libtorch: backend.version(),
    node: process.version,
    torch: null,
    python: null,
  };
  let tuning: Record<string, unknown> | null = null;
  let pythonBlas: string | null = null;
  const threadsSeen = new Set<number>();
  const HF_WORKLOADS = new Set(['infer-b1', 'infer-b32', 'train-lora', 'train-full']);
  for (const dtype of opts.dtypes) {
    for (const name of names) {
      if (dtype !== 'fp32' && name === 'op-overhead') continue;
      const t0 = Date.now();
      // scale-128 is train-lora's measurement: reuse it when both are asked for
      const reuse = name === 'scale-128' && raw[`train-lora/${dtype}`];
      let ts: SideResult;
      let py: SideResult | undefined;
      let hf: SideResult | undefined;
      if (reuse) {
        ts = { ...reuse.torchLora, workload: name };
        py = reuse.pytorch && { ...reuse.pytorch, workload: name };
      } else {
        // Short workloads alternate the two sides a few times: this machine's speed drifts over seconds.
        const rounds = opts.rounds ?? (SHORT_CPU_WORKLOADS.has(name) && opts.device === 'cpu' ? 3 : 1);
        const tsRuns: SideResult[] = [];
        const pyRuns: SideResult[] = [];
        for (let k = 0; k < rounds; k++) {
          tsRuns.push(
            runChild(process.execPath, [workloadsJs, '--workload', name, ...common(dtype)], root, 'torch-lora', tsEnv),
          );
          if (opts.python)
            pyRuns.push(runChild(python, [pyScript, '--workload', name, ...common(dtype)], root, 'pytorch', pyEnv));
        }
        ts = combineRounds(tsRuns);
        py = opts.python ? combineRounds(pyRuns) : undefined;
        if (hfAvailable && HF_WORKLOADS.has(name))
          hf = runChild(python, [pyScript, '--workload', name, '--hf', ...common(dtype)], root, 'hf', pyEnv);
      }
      raw[`${name}/${dtype}`] = { torchLora: ts, pytorch: py, hf };
      for (const r of [ts, py]) {
        if (r?.error) console.error(`  ${r.error}`);
        if (r?.skipped) console.error(`  ${r.side ?? 'a side'} skipped ${name}: ${r.skipped}`);
        if (r && !r.error && !r.skipped) threadsSeen.add(r.threads);
      }
      if (py && !py.error && !py.skipped) {
        versions.torch = (py as PyResult).versions.torch;
        versions.python = (py as PyResult).versions.python;
        pythonBlas = (py as PyResult).versions.blas_core ?? pythonBlas;
      }
      if (!ts.error && !ts.skipped && (ts as WorkloadResult).cpuTuning) tuning = (ts as WorkloadResult).cpuTuning;
      const newRows =
        ts.error && py && !py.error
          ? rowsFor(name, dtype, opts.device, { ...ts, metrics: [] } as SideResult, py, hf)
          : rowsFor(name, dtype, opts.device, ts, py, hf);
      rows.push(...newRows);
      const summary = newRows
        .map(
          (r) =>
            `${r.metric} ${fmtNum(r.torchLora)} vs ${fmtNum(r.pytorch)} ${r.unit} (x${r.ratio?.toFixed(2) ?? '-'})`,
        )
        .join('; ');
      console.error(
        `  ${name}${dtype === 'fp32' ? '' : ` (${dtype})`} [${((Date.now() - t0) / 1000).toFixed(0)} s${reuse ? ', reused train-lora' : ''}]: ${summary}`,
      );
    }
  }
  // What calling libtorch from C++ costs for the same op chains: the floor under any binding (see bench/aten-floor.cc).
  const atenFloor =
    names.includes('op-overhead') && opts.device === 'cpu'
      ? measureAtenFloor(root, opts.threads, opts.quick ? 3 : 15)
      : null;
  if (atenFloor && 'error' in atenFloor) console.error(`  ${atenFloor.error}`);

  if (threadsSeen.size > 1)
    console.error(`WARNING: the two sides ran with different thread counts: ${[...threadsSeen].join(', ')}`);

  const checks: Record<string, number | null> = {};
  const merged = (side: 'torchLora' | 'pytorch') => {
    const base = rows.find((r) => r.workload === 'merged' && r.dtype === 'fp32' && r.metric.startsWith('base'));
    const m = rows.find((r) => r.workload === 'merged' && r.dtype === 'fp32' && r.metric.startsWith('LoRA merged'));
    return base && m && base[side] && m[side] ? m[side]! / base[side]! : null;
  };
  checks.mergedOverBaseTorchLora = merged('torchLora');
  checks.mergedOverBasePytorch = merged('pytorch');

  const date = started.toISOString().slice(0, 10);
  const cuda = opts.device.startsWith('cuda');
  const machine = {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    gpu: cuda ? gpuName(python) : null,
  };
  const threads = [...threadsSeen][0] ?? opts.threads;
  const header = [
    `torch-lora benchmark, ${started.toISOString()}${opts.quick ? ' (quick)' : ''}`,
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB${machine.gpu ? `, GPU ${machine.gpu}` : ''}`,
    `device ${opts.device}, dtype ${opts.dtypes.join('+')}, intra-op threads: ${threads} on both sides`,
    `versions: libtorch ${versions.libtorch} (torch-lora), Node ${versions.node}, PyTorch ${versions.torch ?? '-'} (Python ${versions.python ?? '-'})${hfAvailable ? ', transformers + peft' : ''}`,
    `torch-lora CPU settings: ${tuning ? `malloc tuned ${tuning.mallocTuned ? 'yes' : 'no'}, caching allocator ${tuning.cachingAllocator ? 'yes' : 'no'}` : '-'}; OpenBLAS kernels: torch-lora ${tuning?.blasCore ?? '-'}, PyTorch ${pythonBlas ?? '-'}${process.env.OPENBLAS_CORETYPE ? ` (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE})` : ''}`,
    ...(opts.pytorchMallocTuned
      ? [`PyTorch ran with GLIBC_TUNABLES=${PYTORCH_TUNED_MALLOC} (like-for-like allocator settings)`]
      : []),
    `ratio = torch-lora / PyTorch time (rates inverted), lower is better; medians of the repetitions after warm-up.`,
    `peak memory: ${cuda ? 'the CUDA allocator peak (torch.cuda.max_memory_allocated); torch-lora has no CUDA memory-statistics API, so its column is empty' : 'the RSS high-water mark (VmHWM) of a fresh process per workload'}.`,
  ];
  const table = formatTable(rows, hfAvailable);
  const footer = [
    checks.mergedOverBaseTorchLora != null
      ? `merged LoRA / base model inference: torch-lora ${checks.mergedOverBaseTorchLora.toFixed(2)}, PyTorch ${checks.mergedOverBasePytorch?.toFixed(2) ?? '-'} (1.00 = same cost)`
      : null,
    ...(atenFloor && !('error' in atenFloor) ? floorLines(atenFloor, rows) : []),
  ].filter(Boolean);
  console.log([...header, '', table, '', ...footer].join('\n'));

  const result = {
    date: started.toISOString(),
    quick: opts.quick,
    device: opts.device,
    dtypes: opts.dtypes,
    threads,
    machine,
    versions,
    python,
    hf: hfAvailable,
    pytorchMallocTuned: opts.pytorchMallocTuned,
    cpuTuning: tuning,
    blas: {
      torchLora: tuning?.blasCore ?? null,
      pytorch: pythonBlas,
      OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? null,
    },
    rows,
    checks,
    atenFloor,
    raw,
    wallSeconds: (Date.now() - started.getTime()) / 1000,
    table,
  };
  const outDir = opts.out ?? path.join(root, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const deviceTag = opts.device.replace(/[^a-z0-9]+/gi, '');
  const variant = `${opts.quick ? '-quick' : ''}${opts.tiny ? '-tiny' : ''}${opts.pytorchMallocTuned ? '-pytorch-malloc-tuned' : ''}`;
  const file = path.join(outDir, `${date}-${deviceTag}${variant}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  const written = [path.relative(root, file)];
  // latest.json is the latest comparison with PyTorch as users run it (toy sizes and tuned PyTorch keep their own files)
  if (!opts.tiny && !opts.pytorchMallocTuned) {
    fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify(result, null, 2));
    written.push(path.relative(root, path.join(outDir, 'latest.json')));
  }
  console.error(`wrote ${written.join(' and ')} (${result.wallSeconds.toFixed(0)} s)`);
}

if (require.main === module) main();
