/**
 * Attention forward + backward at DistilBERT-base's shape (batch 8, 12 heads, 128 tokens, head dim 64) with a padding
 * mask, one thread: F.scaledDotProductAttention, which is the matmul-softmax path on libtorch < 2.0.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/attention-time.js
 *
 * TORCH_LORA_ADDON=path/to/torch_lora.node times another build of the addon (for A/B comparisons).
 */
import { F, backend, randn, tensor, tidy } from '../lib';

backend.setNumThreads(1);
const [B, H, L, D] = [8, 12, 128, 64];
const q = randn([B, H, L, D]).requiresGrad_(true);
const k = randn([B, H, L, D]).requiresGrad_(true);
const v = randn([B, H, L, D]).requiresGrad_(true);
// The last 28 positions are padding in every sequence.
const keep = tensor(
  Array.from({ length: B }, () => Array.from({ length: L }, (_, j) => j < 100)),
  { dtype: 'bool' },
).view(B, 1, 1, L);
const step = () => tidy(() => F.scaledDotProductAttention(q, k, v, { attnMask: keep }).sum().backward());

for (let i = 0; i < 3; i++) step();
const times: number[] = [];
for (let i = 0; i < 15; i++) {
  const started = performance.now();
  step();
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
console.log(
  `attention fwd+bwd ${B}x${H}x${L}x${L} (head dim ${D}), padding mask, 1 thread: median ${times[7].toFixed(1)} ms`,
);
