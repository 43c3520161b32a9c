// The addon's whole surface, typed: the table ops come from lib/native-ops.generated.ts (written from
// native/op_tables.h by scripts/gen-native-types.js); the irregular entry points, each registered by name in native/,
// are declared here by hand. test/native-binding.test.ts checks that the addon exports exactly these names, so a
// misspelt N.xxx is a compile error and a declaration with no native function a test failure.
import type { Handle, NativeOps, Scalar } from './native-ops.generated';

export type { Handle, Scalar } from './native-ops.generated';

/** Integer lists: a bare number reads as a list of one (intListArg in native/arguments.cc). */
export type IntList = number | number[];
/** A dtype as libtorch's ScalarType number (lib/dtype.ts maps names to these). */
export type DTypeCode = number;
/** The typed array dataSync/dataAsync return for the tensor's dtype (int64 as BigInt64Array). */
export type NativeTypedArray =
  | Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface NativeMemory {
  numTensors: number;
  numBytes: number;
  bytesByDevice: Record<string, number>;
  tableSize: number;
}

// A type rather than an interface: bench/workloads.ts reads it as a Record<string, unknown>.
export type NativeCpuTuning = {
  enabled: boolean;
  mallocTuned: boolean;
  cachingAllocator: boolean;
  cachedBytes: number;
  mappedBytes: number;
  blasCore: string | null;
};

export interface NativeGroupInfo {
  rank: number;
  worldSize: number;
  backend: 'gloo' | 'nccl';
  timeoutMs: number;
}

export interface NativeDdpStats {
  buckets: number;
  bytesPerSync: number;
  syncs: number;
  waitMs: number;
  bucketsLaunchedDuringBackward: number;
}

/** The entry points outside the op tables, with the argument order their C++ reads (null/undefined = absent). */
export interface NativeIrregular {
  // ---- creation (native/creation.cc): (..., dtype, device, requiresGrad)
  zeros(shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  ones(shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  empty(shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  rand(shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  randn(shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  full(shape: number[], value: Scalar, dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  randint(low: number, high: number, shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  arange(start: number, end: number, step: number, dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  linspace(start: number, end: number, steps: number, dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  eye(n: number, dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  /** Copies the bytes into a new tensor. */
  fromBuffer(data: ArrayBufferView | ArrayBuffer, shape: number[], dtype: DTypeCode, device: string, requiresGrad: boolean): Handle;
  manualSeed(seed: number): void;

  // ---- metadata (native/read_back.cc)
  shape(h: Handle): number[];
  dtype(h: Handle): DTypeCode;
  device(h: Handle): string;
  numel(h: Handle): number;
  dim(h: Handle): number;
  requiresGrad(h: Handle): boolean;
  isLeaf(h: Handle): boolean;
  isContiguous(h: Handle): boolean;
  isValid(h: unknown): boolean;

  // ---- conversion and read-back (native/read_back.cc)
  /** dtype -1 and device null keep the tensor's own. */
  to(h: Handle, dtype: DTypeCode, device: string | null, copy: boolean): Handle;
  dataSync(h: Handle): NativeTypedArray;
  dataAsync(h: Handle): Promise<NativeTypedArray>;
  /** The raw bytes in the tensor's own dtype. */
  bytes(h: Handle): Buffer;
  item(h: Handle): number | boolean;

  // ---- memory (native/memory.cc)
  dispose(h: Handle): void;
  disposeMany(hs: Handle[]): void;
  /** Its large block (if the CPU cache's allocator made it) is unmapped when freed, not cached. */
  skipCache(h: Handle): void;
  memory(): NativeMemory;

  // ---- runtime (native/runtime.cc)
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(device?: number | null): void;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  version(): string;
  parallelInfo(): string;

  // ---- ops with extra arguments (native/ops.cc)
  addScaled(a: Handle, b: Handle, alpha: Scalar): Handle;
  addScaled_(a: Handle, b: Handle, alpha: Scalar): void;
  addcmul_(a: Handle, t1: Handle, t2: Handle, value: Scalar): void;
  addcdiv_(a: Handle, t1: Handle, t2: Handle, value: Scalar): void;
  lerp_(a: Handle, end: Handle, weight: Scalar): void;
  normal_(a: Handle, mean: number, std: number): void;
  uniform_(a: Handle, from: number, to: number): void;
  clamp(a: Handle, min: Scalar | null, max: Scalar | null): Handle;
  clamp_(a: Handle, min: Scalar | null, max: Scalar | null): void;
  where(cond: Handle, a: Handle, b: Handle): Handle;
  maskedFill(a: Handle, mask: Handle, value: Scalar): Handle;
  maskedFill_(a: Handle, mask: Handle, value: Scalar): void;
  addmm(bias: Handle, m1: Handle, m2: Handle, beta: Scalar, alpha: Scalar): Handle;
  // reductions: dims null reduces everything
  sum(a: Handle, dims: IntList | null, keepdim: boolean, dtype?: DTypeCode): Handle;
  mean(a: Handle, dims: IntList | null, keepdim: boolean, dtype?: DTypeCode): Handle;
  amax(a: Handle, dims: IntList | null, keepdim: boolean): Handle;
  amin(a: Handle, dims: IntList | null, keepdim: boolean): Handle;
  prod(a: Handle, dim: number | null, keepdim: boolean): Handle;
  logsumexp(a: Handle, dims: IntList, keepdim: boolean): Handle;
  all(a: Handle, dim: number | null, keepdim: boolean): Handle;
  any(a: Handle, dim: number | null, keepdim: boolean): Handle;
  maxDim(a: Handle, dim: number, keepdim: boolean): [Handle, Handle];
  minDim(a: Handle, dim: number, keepdim: boolean): [Handle, Handle];
  argmax(a: Handle, dim: number | null, keepdim: boolean): Handle;
  argmin(a: Handle, dim: number | null, keepdim: boolean): Handle;
  var(a: Handle, dims: IntList | null, unbiased: boolean, keepdim: boolean): Handle;
  std(a: Handle, dims: IntList | null, unbiased: boolean, keepdim: boolean): Handle;
  norm(a: Handle, p: number, dims: IntList | null, keepdim: boolean): Handle;
  cumsum(a: Handle, dim: number): Handle;
  topk(a: Handle, k: number, dim: number, largest: boolean): [Handle, Handle];
  sort(a: Handle, dim: number, descending: boolean): [Handle, Handle];
  // shape
  view(a: Handle, shape: IntList): Handle;
  reshape(a: Handle, shape: IntList): Handle;
  transpose(a: Handle, dim0: number, dim1: number): Handle;
  permute(a: Handle, dims: IntList): Handle;
  squeeze(a: Handle, dim?: number | null): Handle;
  unsqueeze(a: Handle, dim: number): Handle;
  expand(a: Handle, shape: IntList): Handle;
  repeat(a: Handle, repeats: IntList): Handle;
  flatten(a: Handle, startDim: number, endDim: number): Handle;
  flip(a: Handle, dims: IntList): Handle;
  narrow(a: Handle, dim: number, start: number, length: number): Handle;
  select(a: Handle, dim: number, index: number): Handle;
  slice(a: Handle, dim: number, start: number | null, end: number | null, step?: number | null): Handle;
  tril(a: Handle, diagonal?: number | null): Handle;
  triu(a: Handle, diagonal?: number | null): Handle;
  // indexing
  indexSelect(a: Handle, dim: number, index: Handle): Handle;
  gather(a: Handle, dim: number, index: Handle): Handle;
  scatter(a: Handle, dim: number, index: Handle, src: Handle): Handle;
  scatterAdd(a: Handle, dim: number, index: Handle, src: Handle): Handle;
  /** -1 keeps that dimension whole. */
  index(a: Handle, indices: Handle[]): Handle;
  maskedSelect(a: Handle, mask: Handle): Handle;
  oneHot(a: Handle, numClasses?: number | null): Handle;
  // joining and splitting
  cat(ts: Handle[], dim: number): Handle;
  stack(ts: Handle[], dim: number): Handle;
  split(a: Handle, sizeOrSizes: number | number[], dim: number): Handle[];
  chunk(a: Handle, chunks: number, dim: number): Handle[];
  unbind(a: Handle, dim: number): Handle[];

  // ---- nn (native/nn.cc)
  linear(x: Handle, w: Handle, b?: Handle | null): Handle;
  loraLinear(x: Handle, w: Handle, b: Handle | null, A: Handle, B: Handle, scaling: number, dropoutP: number, train: boolean): Handle;
  gelu(x: Handle, approximate?: 'none' | 'tanh'): Handle;
  softmax(x: Handle, dim: number, dtype?: DTypeCode): Handle;
  logSoftmax(x: Handle, dim: number, dtype?: DTypeCode): Handle;
  layerNorm(x: Handle, normalizedShape: number[], w: Handle | null, b: Handle | null, eps: number): Handle;
  embedding(weight: Handle, indices: Handle, paddingIdx: number | null): Handle;
  dropout(x: Handle, p: number, train: boolean): Handle;
  crossEntropy(logits: Handle, target: Handle, weight: Handle | null, reduction: string, ignoreIndex: number, labelSmoothing: number): Handle;
  nllLoss(logProbs: Handle, target: Handle, weight: Handle | null, reduction: string, ignoreIndex: number): Handle;
  mseLoss(input: Handle, target: Handle, reduction: string): Handle;
  bceWithLogits(input: Handle, target: Handle, reduction: string): Handle;
  scaledDotProductAttention(q: Handle, k: Handle, v: Handle, mask: Handle | null, dropoutP: number, isCausal: boolean, train: boolean): Handle;
  attentionMatmulSoftmax(q: Handle, k: Handle, v: Handle, mask: Handle | null, dropoutP: number, isCausal: boolean, train: boolean): Handle;
  hasFusedAttention(): boolean;

  // ---- autograd (native/autograd.cc)
  backward(h: Handle, grad: Handle | null, retainGraph: boolean | null | undefined, createGraph: boolean): void;
  /** The handle of .grad, or null. */
  grad(h: Handle): Handle | null;
  setGrad(h: Handle, grad: Handle | null): void;
  gradFnName(h: Handle): string | null;
  hasGrad(h: Handle): boolean;
  requiresGrad_(h: Handle, on?: boolean): void;
  retainGrad(h: Handle): void;
  isGradEnabled(): boolean;
  setGradEnabled(on: boolean): void;
  setAutocast(enabled: boolean, deviceType: string, dtype: DTypeCode): void;
  zeroGrad(params: Handle[], setToNone: boolean): void;
  clipGradNorm(params: Handle[], maxNorm: number, normType: number): number;

  // ---- optimizers (native/optimizers.cc, over the kernel of native/fused_optim.cc)
  adamStep(
    params: Handle[], expAvg: Handle[], expAvgSq: Handle[], maxExpAvgSq: Handle[] | null, steps: number[],
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, amsgrad: boolean, decoupled: boolean, maximize: boolean,
  ): void;
  sgdStep(
    params: Handle[], momentumBuffers: Handle[] | null, first: boolean, lr: number, momentum: number, dampening: number,
    weightDecay: number, nesterov: boolean, maximize: boolean,
  ): void;

  // ---- files and CPU memory (native/file_read.cc, native/cpu_tuning.cc)
  readFileBytes(path: string): ArrayBuffer;
  cpuTuning(): NativeCpuTuning;
  enableCpuTuning(cacheMb: number, tuneMalloc: boolean): void;
  disableCpuTuning(): void;
  emptyCpuCache(): void;

  // ---- torch.distributed (native/distributed.cc, native/distributed_ddp.cc)
  seededRandperm(n: number, seed: number): Handle;
  distInit(backend: string, host: string, port: number, rank: number, worldSize: number, timeoutMs: number, isServer: boolean): Promise<void>;
  distDestroy(): boolean;
  distInfo(): NativeGroupInfo | null;
  distBarrier(): Promise<void>;
  distAllReduce(h: Handle, op: string): Promise<void>;
  distBroadcast(h: Handle, src: number): Promise<void>;
  distBroadcastCoalesced(hs: Handle[], src: number): Promise<void>;
  distAllGather(h: Handle): Promise<Handle[]>;
  distReduceScatter(inputs: Handle[], op: string): Promise<Handle>;
  ddpCreate(params: Handle[], names: string[], bucketBytes: number, findUnused: boolean): number;
  /** Returns the previous setting. */
  ddpSetSync(id: number, on: boolean): boolean;
  ddpStats(id: number): NativeDdpStats;
  ddpDispose(id: number): void;
}

export type NativeBinding = NativeOps & NativeIrregular;
