// `torch-lora launch`: torchrun for Node scripts. Starts --nproc-per-node copies of a script with torchrun's
// variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT) and restarts
// nothing: when one rank fails, the launcher says which, gives the others a grace period to fail on their own
// (their next collective errors out as soon as the peer's socket closes), then terminates them, and exits non-zero.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { intSetting } from './env';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  script: string;
  args?: string[];
  /** After a rank fails, how long the others may take to stop on their own before they are terminated (ms). */
  graceMs?: number;
  /** Extra environment for every rank. */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Receives each rank's stdout and stderr instead of this process's own streams. */
  onOutput?: (rank: number, stream: 'stdout' | 'stderr', chunk: string) => void;
}

export const LAUNCH_USAGE = `Usage: torch-lora launch --nproc-per-node N [--nnodes M --node-rank K --master-addr A --master-port P]
                         [--grace-ms MS] script.js [script args]`;

/** Reads `launch`'s own switches; everything from the script on is the script's. */
export function parseLaunchArgs(argv: string[]): LaunchOptions {
  const o: Partial<LaunchOptions> = {};
  let i = 0;
  const value = (name: string) => {
    const v = argv[++i];
    if (v === undefined) throw new Error(`${name} needs a value\n${LAUNCH_USAGE}`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) break;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const v = () => inline ?? value(flag);
    switch (flag.replace(/_/g, '-')) {
      case '--nproc-per-node':
        o.nprocPerNode = intSetting(flag, v(), 1, 1024);
        break;
      case '--nnodes':
        o.nnodes = intSetting(flag, v(), 1, 65536);
        break;
      case '--node-rank':
        o.nodeRank = intSetting(flag, v(), 0, 65535);
        break;
      case '--master-addr':
        o.masterAddr = v();
        break;
      case '--master-port':
        o.masterPort = intSetting(flag, v(), 1, 65535);
        break;
      case '--grace-ms':
        o.graceMs = intSetting(flag, v(), 0, 3600_000);
        break;
      default:
        throw new Error(`unknown launch option ${flag}\n${LAUNCH_USAGE}`);
    }
  }
  if (i >= argv.length) throw new Error(`launch needs a script\n${LAUNCH_USAGE}`);
  if (o.nprocPerNode === undefined) throw new Error(`launch needs --nproc-per-node\n${LAUNCH_USAGE}`);
  return { ...o, nprocPerNode: o.nprocPerNode, script: argv[i], args: argv.slice(i + 1) };
}

/** Each rank's environment: torchrun's variables, and its share of the cores unless OMP_NUM_THREADS is set. */
export function rankEnvironment(
  o: LaunchOptions,
  localRank: number,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const nnodes = o.nnodes ?? 1,
    nodeRank = o.nodeRank ?? 0;
  if (nodeRank >= nnodes) throw new Error(`--node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
  const threads = Math.max(1, Math.floor(os.availableParallelism() / o.nprocPerNode));
  return {
    ...base,
    ...o.env,
    RANK: String(nodeRank * o.nprocPerNode + localRank),
    WORLD_SIZE: String(nnodes * o.nprocPerNode),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(nodeRank),
    MASTER_ADDR: o.masterAddr ?? '127.0.0.1',
    MASTER_PORT: String(o.masterPort ?? 29500),
    OMP_NUM_THREADS: base.OMP_NUM_THREADS ?? o.env?.OMP_NUM_THREADS ?? String(threads),
  };
}

/** Runs the job; resolves to the exit code for the launcher (0 when every rank succeeded). */
export function launch(o: LaunchOptions): Promise<number> {
  const log = o.log ?? ((l: string) => console.error(l));
  const grace = o.graceMs ?? 30_000;
  const children: ChildProcess[] = [];
  const exited = new Set<number>();
  let failed: { rank: number; why: string } | null = null;
  let terminateTimer: NodeJS.Timeout | null = null;
  const globalRank = (local: number) => (o.nodeRank ?? 0) * o.nprocPerNode + local;

  const stopOthers = (signal: NodeJS.Signals) =>
    children.forEach((c, k) => {
      if (!exited.has(k)) c.kill(signal);
    });
  return new Promise((resolve, reject) => {
    // Ctrl-C reaches every rank from the terminal already (they share its process group), and the CLI quits at
    // once on a second SIGINT: the launcher only stays alive for it. SIGTERM (a scheduler's stop) is passed on.
    const onInt = () => undefined;
    const onTerm = () => stopOthers('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    for (let k = 0; k < o.nprocPerNode; k++) {
      let env: NodeJS.ProcessEnv;
      try {
        env = rankEnvironment(o, k);
      } catch (e) {
        stopOthers('SIGKILL');
        reject(e);
        return;
      }
      const child = spawn(process.execPath, [o.script, ...(o.args ?? [])], {
        env,
        stdio: o.onOutput ? 'pipe' : 'inherit',
      });
      children.push(child);
      if (o.onOutput) {
        const sink = o.onOutput;
        child.stdout?.on('data', (d: Buffer) => sink(globalRank(k), 'stdout', d.toString()));
        child.stderr?.on('data', (d: Buffer) => sink(globalRank(k), 'stderr', d.toString()));
      }
      child.on('error', (e) => log(`torch-lora launch: rank ${globalRank(k)} could not start: ${e.message}`));
      child.on('exit', (code, signal) => {
        exited.add(k);
        if ((code !== 0 || signal) && failed)
          log(
            `torch-lora launch: rank ${globalRank(k)} ${signal ? `was stopped by ${signal}` : `exited with code ${code}`}`,
          );
        if ((code !== 0 || signal) && !failed) {
          failed = { rank: globalRank(k), why: signal ? `was killed by ${signal}` : `exited with code ${code}` };
          log(`torch-lora launch: rank ${failed.rank} (pid ${child.pid}) ${failed.why}; stopping the other ranks`);
          terminateTimer = setTimeout(() => {
            stopOthers('SIGTERM');
            terminateTimer = setTimeout(() => stopOthers('SIGKILL'), 5000);
          }, grace);
        }
        if (exited.size === o.nprocPerNode) {
          if (terminateTimer) clearTimeout(terminateTimer);
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          if (failed) log(`torch-lora launch: failed (first failure: rank ${failed.rank} ${failed.why})`);
          resolve(failed ? 1 : 0);
        }
      });
    }
  });
}
