// Which backend the code running now should use. In local mode the three parties share one
// process and, on a GPU, one device: each party's SPMD function runs inside its own context, so
// every tensor it creates lands on its own CUDA stream without the protocol code knowing.
import { AsyncLocalStorage } from 'node:async_hooks';

import { type Backend, getBackend } from './backends';

const storage = new AsyncLocalStorage<Backend>();

/**
 * Runs fn with `backend` as the default backend of everything it (asynchronously) does.
 *
 * A context is entered only when it changes that default: a party whose backend is already the
 * one code falls back to (the process's, on the CPU, where parties have no streams: every server
 * process, and in-process clusters on the default device) runs fn as it is. The first
 * AsyncLocalStorage.run turns Node's promise hooks on for every promise of the process, which
 * cost a server 4-10% of its CPU on the protocol's many small awaits (bench/RESULTS.md, tenth session).
 * So changing the process's backend (setBackend) while a computation on the old one is in flight
 * is not supported: its later tensors would be made on the new one, and kernels refuse to mix them.
 */
export function withBackend<T>(backend: Backend | undefined, fn: () => T): T {
  // getBackend(): the enclosing context's backend, else the process's.
  if (!backend || backend === getBackend()) return fn();
  return storage.run(backend, fn);
}

export function contextBackend(): Backend | undefined {
  return storage.getStore();
}
