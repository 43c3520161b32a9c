// Where a process finds its place in the job: torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or an explicit tcp://host:port.

/** torchrun's default per-collective timeout is 30 minutes; so is ours. */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export interface Rendezvous {
  host: string;
  port: number;
  rank: number;
  worldSize: number;
}

/** A non-negative integer from an environment variable or option, or a clear error naming it. */
export function intSetting(
  name: string,
  value: string | number | undefined,
  min = 0,
  max = 1 << 20,
): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The local rank and local world size torchrun (or `torch-lora launch`) gave this process; 0 and 1 otherwise. */
export function localPlacement(env: NodeJS.ProcessEnv = process.env): { localRank: number; localWorldSize: number } {
  return {
    localRank: intSetting('LOCAL_RANK', env.LOCAL_RANK) ?? 0,
    localWorldSize: intSetting('LOCAL_WORLD_SIZE', env.LOCAL_WORLD_SIZE, 1) ?? 1,
  };
}

/** Resolves `initMethod` ('env://' or 'tcp://host:port') plus explicit rank/worldSize into a rendezvous point. */
export function resolveRendezvous(
  initMethod: string,
  rank: number | undefined,
  worldSize: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Rendezvous {
  let host: string | undefined;
  let port: number | undefined;
  if (initMethod === 'env://') {
    host = env.MASTER_ADDR;
    port = intSetting('MASTER_PORT', env.MASTER_PORT, 1, 65535);
    if (!host)
      throw new Error(
        "initMethod 'env://' needs MASTER_ADDR in the environment (torchrun and `torch-lora launch` set it)",
      );
    if (port === undefined)
      throw new Error(
        "initMethod 'env://' needs MASTER_PORT in the environment (torchrun and `torch-lora launch` set it)",
      );
  } else {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(initMethod);
    if (!m) throw new Error(`initMethod must be 'env://' or 'tcp://host:port', got ${JSON.stringify(initMethod)}`);
    host = m[1].replace(/^\[|\]$/g, '');
    port = intSetting('initMethod port', m[2], 1, 65535)!;
  }
  const r = rank ?? intSetting('RANK', env.RANK);
  const w = worldSize ?? intSetting('WORLD_SIZE', env.WORLD_SIZE, 1);
  if (r === undefined) throw new Error('rank is not set: pass { rank } or set RANK');
  if (w === undefined) throw new Error('worldSize is not set: pass { worldSize } or set WORLD_SIZE');
  intSetting('rank', r);
  intSetting('worldSize', w, 1);
  if (r >= w) throw new Error(`rank ${r} is not below worldSize ${w}`);
  return { host, port, rank: r, worldSize: w };
}
