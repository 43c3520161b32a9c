// Errors the serving layer rejects with; `code` is stable, for callers (and the HTTP server) to branch on.
export type ServingErrorCode =
  | 'QUEUE_FULL'
  | 'UNKNOWN_ADAPTER'
  | 'ADAPTER_EXISTS'
  | 'ADAPTER_LOAD_FAILED'
  | 'ADAPTER_LIMIT'
  | 'INVALID_INPUT'
  | 'INFERENCE_FAILED'
  | 'WORKER_CRASHED'
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'CLOSED';

export class ServingError extends Error {
  /**
   * `message` is safe to show to a remote client: it names only what the caller gave. `detail`, when present, is the
   * full story (absolute paths, the loader's own message) for logs.
   */
  constructor(
    readonly code: ServingErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'ServingError';
  }
}

export function isServingError(e: unknown, code?: ServingErrorCode): e is ServingError {
  return e instanceof ServingError && (code === undefined || e.code === code);
}
