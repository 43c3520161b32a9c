// addWeightedAdapter: a new adapter made of existing ones, with PEFT's add_weighted_adapter semantics for 'linear',
// 'cat' and 'svd'. The new adapter has scaling 1 (PEFT: lora_alpha = r), is not activated, and does not train.
//
// In PEFT's layout (A [r, in], B [out, r], update s·B A), with c_i = w_i · s_i:
//   linear: A = Σ sign(c_i)·√|c_i|·A_i, B = Σ √|c_i|·B_i            (all ranks equal)
//   cat:    A = [c_1 A_1; c_2 A_2; ...], B = [B_1, B_2, ...]       (rank Σ r_i; exactly Σ c_i B_i A_i)
//   svd:    Δ = Σ c_i B_i A_i truncated to rank svdRank (default max r_i): B = U_r S_r, A = V_rᵀ
// Here A is [in, r] and B [r, out], the transposes. The SVD needs no full decomposition of Δ: Δ has rank at most
// R = Σ r_i, so Δ = Qa M Qbᵀ with QR factors of the stacked factors and M only R × R (Jacobi, in float64).
import type { Module } from '../nn/module';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import { tensor } from '../creation';
import type { Tensor } from '../tensor';
import type { LoRALayer } from './lora-layer';
import { loraLayers } from './replace';

export type CombinationType = 'linear' | 'cat' | 'svd';

export interface WeightedAdapterOptions {
  /** The rank of an 'svd' combination (default: the largest rank among the adapters). */
  svdRank?: number;
}

/** A row-major matrix in float64. */
interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

const matOf = (t: Tensor): Mat => ({
  rows: t.shape[0],
  cols: t.shape[1],
  data: Float64Array.from(t.double().dataSync() as Float64Array),
});

export function addWeightedAdapter(
  model: Module,
  adapters: string[],
  weights: number[],
  name: string,
  combinationType: CombinationType = 'svd',
  opts: WeightedAdapterOptions = {},
): string[] {
  if (adapters.length === 0 || adapters.length !== weights.length)
    throw new Error(`addWeightedAdapter: ${adapters.length} adapters but ${weights.length} weights`);
  if (weights.some((w) => !Number.isFinite(w)))
    throw new Error(`addWeightedAdapter: weights must be finite numbers, got ${weights}`);
  if (!['linear', 'cat', 'svd'].includes(combinationType))
    throw new Error(`addWeightedAdapter: combination type '${combinationType}' is not supported (linear, cat, svd)`);
  const layers = loraLayers(model).filter(([, l]) => adapters.some((a) => l.lora.has(a)));
  for (const a of adapters)
    if (!layers.some(([, l]) => l.lora.has(a)))
      throw new Error(`addWeightedAdapter: no layer has an adapter named '${a}'`);
  if (layers.some(([, l]) => l.lora.has(name)))
    throw new Error(`addWeightedAdapter: an adapter named '${name}' already exists`);
  for (const [n, l] of layers)
    for (const a of adapters)
      if (l.lora.get(a)?.magnitude)
        throw new Error(
          `addWeightedAdapter: '${a}' is a DoRA adapter ('${n}'); PEFT cannot combine DoRA adapters either`,
        );
  const kind: CombinationType = adapters.length === 1 ? 'linear' : combinationType; // PEFT does the same
  const allRanks = layers.flatMap(([, l]) => adapters.filter((a) => l.lora.has(a)).map((a) => l.adapter(a).rank));
  if (kind === 'linear' && new Set(allRanks).size > 1)
    throw new Error(
      `addWeightedAdapter: 'linear' needs adapters of one rank, got ranks ${[...new Set(allRanks)].join(', ')}; use 'cat' or 'svd'`,
    );
  const svdRank = opts.svdRank ?? Math.max(...allRanks);
  if (!Number.isInteger(svdRank) || svdRank <= 0)
    throw new Error(`addWeightedAdapter: svdRank must be a positive integer, got ${svdRank}`);

  for (const [, layer] of layers) {
    const parts = adapters
      .map((a, i) => [layer.lora.get(a), weights[i]] as const)
      .filter((p): p is readonly [LoRALayer, number] => p[0] !== undefined);
    const factors = noGrad(() =>
      tidy(() => parts.map(([a, w]) => ({ A: matOf(a.A), B: matOf(a.B), c: w * a.scaling }))),
    );
    const { A, B } =
      kind === 'linear'
        ? combineLinear(factors)
        : kind === 'cat'
          ? combineCat(factors)
          : combineSvd(factors, Math.min(svdRank, layer.inFeatures, layer.outFeatures));
    const created = layer.addAdapter(name, {
      rank: A.cols,
      alpha: A.cols,
      scaling: 'alpha/r',
      dropout: parts[0][0].dropoutP,
    });
    noGrad(() =>
      tidy(() => {
        created.A.copy_(tensor(A.data, { dtype: 'float64' }).view([A.rows, A.cols]));
        created.B.copy_(tensor(B.data, { dtype: 'float64' }).view([B.rows, B.cols]));
      }),
    );
    for (const p of created.parameters()) p.requiresGrad_(false);
  }
  return layers.map(([n]) => n);
}

interface Factor {
  A: Mat;
  B: Mat;
  c: number;
}

function combineLinear(fs: Factor[]): { A: Mat; B: Mat } {
  const A = zerosMat(fs[0].A.rows, fs[0].A.cols);
  const B = zerosMat(fs[0].B.rows, fs[0].B.cols);
  for (const { A: a, B: b, c } of fs) {
    const root = Math.sqrt(Math.abs(c));
    axpy(A.data, a.data, c >= 0 ? root : -root); // the sign on one side only
    axpy(B.data, b.data, root);
  }
  return { A, B };
}

function combineCat(fs: Factor[]): { A: Mat; B: Mat } {
  const inF = fs[0].A.rows;
  const outF = fs[0].B.cols;
  const R = fs.reduce((s, f) => s + f.A.cols, 0);
  const A = zerosMat(inF, R);
  const B = zerosMat(R, outF);
  let k0 = 0;
  for (const { A: a, B: b, c } of fs) {
    for (let i = 0; i < inF; i++) for (let k = 0; k < a.cols; k++) A.data[i * R + k0 + k] = c * a.data[i * a.cols + k];
    B.data.set(b.data, k0 * outF);
    k0 += a.cols;
  }
  return { A, B };
}

function combineSvd(fs: Factor[], rank: number): { A: Mat; B: Mat } {
  // Δ = Acat · Bcat with Acat [in, R] = [c_i A_i], Bcat [R, out] = [B_i]; Acat = Qa Ra, Bcatᵀ = Qb Rb.
  const { A: Acat, B: Bcat } = combineCat(fs);
  const [Qa, Ra] = qr(Acat);
  const [Qb, Rb] = qr(transpose(Bcat));
  const M = matmul(Ra, transpose(Rb)); // R × R: Δ = Qa M Qbᵀ
  const { U, S, V } = jacobiSvd(M);
  const r = Math.min(rank, S.length);
  const order = [...S.keys()].sort((i, j) => S[j] - S[i]).slice(0, r);
  // A = Qa U_r S_r  [in, r];  B = (Qb V_r)ᵀ  [r, out]
  const Ur = zerosMat(U.rows, r);
  const Vr = zerosMat(V.rows, r);
  order.forEach((col, k) => {
    for (let i = 0; i < U.rows; i++) Ur.data[i * r + k] = U.data[i * U.cols + col] * S[col];
    for (let i = 0; i < V.rows; i++) Vr.data[i * r + k] = V.data[i * V.cols + col];
  });
  return { A: matmul(Qa, Ur), B: transpose(matmul(Qb, Vr)) };
}

// ------------------------------------------------------------------------------------------------ small dense algebra
const zerosMat = (rows: number, cols: number): Mat => ({ rows, cols, data: new Float64Array(rows * cols) });

function axpy(y: Float64Array, x: Float64Array, a: number): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}

function transpose(m: Mat): Mat {
  const t = zerosMat(m.cols, m.rows);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) t.data[j * m.rows + i] = m.data[i * m.cols + j];
  return t;
}

function matmul(a: Mat, b: Mat): Mat {
  const out = zerosMat(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const v = a.data[i * a.cols + k];
      if (v === 0) continue;
      for (let j = 0; j < b.cols; j++) out.data[i * b.cols + j] += v * b.data[k * b.cols + j];
    }
  }
  return out;
}

/** Thin QR by modified Gram-Schmidt (twice, for orthogonality): m [n, k] = Q [n, k] R [k, k]. */
function qr(m: Mat): [Mat, Mat] {
  const { rows: n, cols: k } = m;
  const Q = { rows: n, cols: k, data: Float64Array.from(m.data) };
  const R = zerosMat(k, k);
  for (let j = 0; j < k; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += Q.data[i * k + p] * Q.data[i * k + j];
        for (let i = 0; i < n; i++) Q.data[i * k + j] -= dot * Q.data[i * k + p];
        R.data[p * k + j] += dot;
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += Q.data[i * k + j] ** 2;
    norm = Math.sqrt(norm);
    R.data[j * k + j] = norm;
    // A zero column (an adapter whose B is still zero): its Q column stays zero, which R's zero row makes harmless.
    if (norm > 0) for (let i = 0; i < n; i++) Q.data[i * k + j] /= norm;
  }
  return [Q, R];
}

/** One-sided Jacobi SVD of a small square matrix: M = U diag(S) Vᵀ. */
function jacobiSvd(m: Mat): { U: Mat; S: number[]; V: Mat } {
  const n = m.cols;
  const U = { rows: m.rows, cols: n, data: Float64Array.from(m.data) };
  const V = zerosMat(n, n);
  for (let i = 0; i < n; i++) V.data[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < U.rows; i++) {
          const up = U.data[i * n + p];
          const uq = U.data[i * n + q];
          alpha += up * up;
          beta += uq * uq;
          gamma += up * uq;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (const M of [U, V]) {
          for (let i = 0; i < M.rows; i++) {
            const a = M.data[i * n + p];
            const b = M.data[i * n + q];
            M.data[i * n + p] = c * a - s * b;
            M.data[i * n + q] = s * a + c * b;
          }
        }
      }
    }
    if (!rotated) break;
  }
  const S: number[] = [];
  for (let j = 0; j < n; j++) {
    let norm = 0;
    for (let i = 0; i < U.rows; i++) norm += U.data[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    S.push(norm);
    if (norm > 0) for (let i = 0; i < U.rows; i++) U.data[i * n + j] /= norm;
  }
  return { U, S, V };
}
