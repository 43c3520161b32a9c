/**
 * How long DistilBERT-base takes to load from a Hugging Face folder (fromPretrained: config, weights, model).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/load-time.js [model folder]
 *
 * Without a folder it writes a randomly initialised DistilBERT-base checkpoint (268 MB) to a temporary folder first.
 * Each load runs in this process after the first (which also pays for loading libtorch).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DistilBertForSequenceClassification } from '../lib';

async function main(): Promise<void> {
  let dir = process.argv[2];
  if (!dir) {
    dir = path.join(os.tmpdir(), 'torch-lora-load-time-distilbert-base');
    if (!fs.existsSync(path.join(dir, 'model.safetensors'))) {
      const model = DistilBertForSequenceClassification.random({}, 1);
      model.savePretrained(dir);
      model.dispose();
    }
  }
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const model = await DistilBertForSequenceClassification.fromPretrained(dir);
    times.push((performance.now() - started) / 1000);
    model.dispose();
  }
  const warm = times.slice(1).sort((a, b) => a - b);
  console.log(
    `fromPretrained ${dir}: first ${times[0].toFixed(2)} s, then median ${warm[Math.floor(warm.length / 2)].toFixed(2)} s (${warm.map((t) => t.toFixed(2)).join(', ')})`,
  );
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 1;
});
