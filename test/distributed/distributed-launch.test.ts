// `torch-lora launch`: torchrun's variables and the core split, and the fault path — one rank killed mid-training,
// the other stops with an error within the timeout, the launcher names the failed rank and exits non-zero, and the
// last checkpoint rank 0 wrote is whole and loads.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  distributed,
  io,
  DistilBertForSequenceClassification,
  replaceLinearWithLora,
  markOnlyLoraAsTrainable,
} from '../../lib';
import { rawToTensor } from '../../lib/io/tensor-bridge';
import { freePort, transpiledLib } from '../helpers/ranks';

const { parseLaunchArgs, rankEnvironment, launch } = distributed;

test("launch switches end at the script; the rest is the script's", () => {
  expect(parseLaunchArgs(['--nproc-per-node', '2', '--master-port=29511', 'train.js', '--lr', '1e-3'])).toEqual({
    nprocPerNode: 2,
    masterPort: 29511,
    script: 'train.js',
    args: ['--lr', '1e-3'],
  });
  expect(
    parseLaunchArgs(['--nproc_per_node=4', '--nnodes', '2', '--node-rank', '1', '--master-addr', '10.0.0.1', 'x.js']),
  ).toMatchObject({
    nprocPerNode: 4,
    nnodes: 2,
    nodeRank: 1,
    masterAddr: '10.0.0.1',
    script: 'x.js',
    args: [],
  });
  expect(() => parseLaunchArgs(['train.js'])).toThrow(/needs --nproc-per-node/);
  expect(() => parseLaunchArgs(['--nproc-per-node', '0', 'train.js'])).toThrow(
    /--nproc-per-node must be an integer in 1\.\.1024, got "0"/,
  );
  expect(() => parseLaunchArgs(['--nproc-per-node', '2'])).toThrow(/needs a script/);
  expect(() => parseLaunchArgs(['--bogus', '1', 'train.js'])).toThrow(/unknown launch option --bogus/);
});

test("each rank gets torchrun's variables and its share of the cores unless OMP_NUM_THREADS is set", () => {
  const o = { nprocPerNode: 2, nnodes: 3, nodeRank: 2, masterAddr: 'head', masterPort: 1234, script: 'x.js' };
  const env = rankEnvironment(o, 1, {});
  expect(env).toMatchObject({
    RANK: '5',
    WORLD_SIZE: '6',
    LOCAL_RANK: '1',
    LOCAL_WORLD_SIZE: '2',
    GROUP_RANK: '2',
    MASTER_ADDR: 'head',
    MASTER_PORT: '1234',
  });
  expect(env.OMP_NUM_THREADS).toBe(String(Math.max(1, Math.floor(os.availableParallelism() / 2))));
  expect(rankEnvironment(o, 0, { OMP_NUM_THREADS: '3' }).OMP_NUM_THREADS).toBe('3');
  expect(() => rankEnvironment({ ...o, nodeRank: 3 }, 0, {})).toThrow(/--node-rank 3 must be below --nnodes 3/);
});

describe('a rank dies mid-training', () => {
  let libDir = '';
  let dir = '';
  beforeAll(() => {
    libDir = transpiledLib();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-fault-'));
  });
  afterAll(() => {
    fs.rmSync(libDir, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the other rank stops with an error within the timeout, the launcher names the failed rank, the checkpoint is whole', async () => {
    const ckpt = path.join(dir, 'lora.safetensors');
    const logs: string[] = [];
    const output: Record<number, string> = { 0: '', 1: '' };
    const t0 = Date.now();
    const code = await launch({
      nprocPerNode: 2,
      masterPort: await freePort(),
      script: path.join(__dirname, 'distributed-fault.js'),
      graceMs: 20000,
      env: {
        DIST_LIB_DIR: libDir,
        KILL_RANK: '1',
        KILL_STEP: '3',
        TIMEOUT_MS: '5000',
        CKPT: ckpt,
        TORCH_LORA_ADDON: path.join(__dirname, '..', '..', 'build', 'Release', 'torch_lora.node'),
      },
      log: (l) => logs.push(l),
      onOutput: (rank, _s, chunk) => (output[rank] += chunk),
    });
    const elapsed = Date.now() - t0;
    expect(code).toBe(1);
    expect(logs[0]).toMatch(/^torch-lora launch: rank 1 \(pid \d+\) was killed by SIGKILL; stopping the other ranks$/);
    // Rank 0 was not killed by the launcher: it failed on its own, in its next all-reduce.
    expect(logs).toContain('torch-lora launch: rank 0 exited with code 2');
    const m = /rank 0: training stopped at step (\d+) after \d+ ms: (.*)/.exec(output[0]);
    expect(m).not.toBeNull();
    expect(m![2]).toMatch(/DistributedDataParallel gradient all-reduce|backward/);
    expect(output[0]).toMatch(/rank 0: threads \d+ local 0\/2/);
    expect(elapsed).toBeLessThan(20000);

    // The checkpoint: whole, and it loads into the model it was saved from.
    const { tensors, metadata } = io.readSafetensors(ckpt);
    expect(Number(metadata.step)).toBeGreaterThanOrEqual(3);
    const model = DistilBertForSequenceClassification.random(
      { vocab_size: 64, dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 16, num_labels: 2 },
      3,
    );
    replaceLinearWithLora(model, { rank: 2, alpha: 4, targets: ['q_lin', 'v_lin'] });
    markOnlyLoraAsTrainable(model);
    const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect([...tensors.keys()].sort()).toEqual(trainable.sort());
    const sd = new Map([...tensors].map(([k, raw]) => [k, rawToTensor(raw)]));
    const { unexpectedKeys } = model.loadStateDict(sd, { strict: false });
    expect(unexpectedKeys).toEqual([]);
    model.dispose();
  }, 60000);
});
