// Errors the serving layer rejects with; `code` is stable, for callers (and the HTTP server) to branch on.
export type ServingErrorCode =
  | 'QUEUE_FULL'
  | 'UNKNOWN_ADAPTER'
  | 'ADAPTER_EXISTS'
  | 'ADAPTER_LOAD_FAILED'
  | 'INVALID_INPUT'
  | 'INFERENCE_FAILED'
  | 'WORKER_CRASHED'
  | 'CLOSED';

export class ServingError extends Error {
  constructor(readonly code: ServingErrorCode, message: string) {
    super(message);
    this.name = 'ServingError';
  }
}

export function isServingError(e: unknown, code?: ServingErrorCode): e is ServingError {
  return e instanceof ServingError && (code === undefined || e.code === code);
}
