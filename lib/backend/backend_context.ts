// Which backend the code running now should use. In local mode the three parties share one
// process and, on a GPU, one device: each party's SPMD function runs inside its own context, so
// every tensor it creates lands on its own CUDA stream without the protocol code knowing.
import { AsyncLocalStorage } from 'node:async_hooks';

import type { Backend } from './backends';

const storage = new AsyncLocalStorage<Backend>();

/** Runs fn with `backend` as the default backend of everything it (asynchronously) does. */
export function withBackend<T>(backend: Backend | undefined, fn: () => T): T {
  return backend ? storage.run(backend, fn) : fn();
}

export function contextBackend(): Backend | undefined {
  return storage.getStore();
}
