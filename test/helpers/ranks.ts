// Runs a scenario of test/distributed/distributed-scenarios.js in N processes on 127.0.0.1, as torchrun would.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { transpileLib } from './transpile-lib';

const root = path.join(__dirname, '..', '..');

/** The library as CommonJS for child processes, under build/ so that they resolve node_modules. */
export function transpiledLib(): string {
  const dir = path.join(root, 'build', `test-lib-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  transpileLib(['distributed/index', 'index'], dir);
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface RankOutcome {
  rank: number;
  code: number | null;
  result?: unknown;
  error?: string;
  elapsedMs?: number;
  stderr: string;
}

/** Starts `ranks` of a `worldSize` job (all of them by default) and collects what each printed. */
export async function runRanks(
  libDir: string,
  scenario: string,
  worldSize: number,
  opts: {
    args?: object;
    ranks?: number[];
    env?: Record<string, string>;
    killAfterMs?: number;
  } = {},
): Promise<RankOutcome[]> {
  const port = await freePort();
  const ranks = opts.ranks ?? [...Array(worldSize).keys()];
  return Promise.all(
    ranks.map(
      (rank) =>
        new Promise<RankOutcome>((resolve) => {
          const child = spawn(process.execPath, [path.join(root, 'test', 'distributed', 'distributed-rank.js')], {
            env: {
              ...process.env,
              RANK: String(rank),
              WORLD_SIZE: String(worldSize),
              LOCAL_RANK: String(rank),
              LOCAL_WORLD_SIZE: String(worldSize),
              MASTER_ADDR: '127.0.0.1',
              MASTER_PORT: String(port),
              OMP_NUM_THREADS: '1',
              DIST_LIB_DIR: libDir,
              DIST_SCENARIO: scenario,
              DIST_ARGS: JSON.stringify(opts.args ?? {}),
              TORCH_LORA_ADDON: path.join(root, 'build', 'Release', 'torch_lora.node'),
              ...opts.env,
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '',
            err = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (err += d));
          const killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 60000);
          child.on('close', (code) => {
            clearTimeout(killer);
            const line = out.trim().split('\n').pop() ?? '';
            let parsed: Partial<RankOutcome> = {};
            try {
              parsed = JSON.parse(line);
            } catch {
              parsed = { error: `no result (stdout: ${out.slice(-500)})` };
            }
            resolve({ rank, code, stderr: err, ...parsed });
          });
        }),
    ),
  );
}
