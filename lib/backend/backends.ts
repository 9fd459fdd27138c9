// Backend registry: each backend is a native module exposing the same kernel names. The CPU
// backend always exists; the CUDA backend (a separate .node, probed safely) registers here later.
import * as path from 'node:path';

import type { NativeBinding } from './native_binding';

export interface Backend {
  readonly name: string;
  readonly native: NativeBinding;
}

type Loader = () => NativeBinding;

const loaders = new Map<string, Loader>();
const loaded = new Map<string, Backend>();
let current: string | undefined;

export function registerBackend(name: string, loader: Loader): void {
  loaders.set(name, loader);
}

export function backendNames(): string[] {
  return [...loaders.keys()];
}

/** Returns the named backend (default: the active one), loading it on first use. */
export function getBackend(name?: string): Backend {
  const n = name ?? current ?? defaultBackendName();
  let b = loaded.get(n);
  if (!b) {
    const loader = loaders.get(n);
    if (!loader) throw new Error(`unknown backend '${n}' (registered: ${backendNames().join(', ')})`);
    b = { name: n, native: loader() };
    loaded.set(n, b);
  }
  return b;
}

/** Selects the backend used by ops that are not told otherwise. */
export function setBackend(name: string): Backend {
  const b = getBackend(name);
  current = name;
  return b;
}

function defaultBackendName(): string {
  const env = process.env.TFE_DEVICE;
  if (env && env !== 'auto') {
    if (!loaders.has(env)) throw new Error(`TFE_DEVICE=${env}: no such backend (registered: ${backendNames().join(', ')})`);
    return env;
  }
  return 'cpu';
}

// The package root holds build/ (source builds) and prebuilds/ (shipped binaries).
export const packageRoot = path.resolve(__dirname, '..', '..', '..');

registerBackend('cpu', () => {
  // node-gyp-build picks prebuilds/<platform>-<arch>/ first, then build/Release.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const load = require('node-gyp-build') as (dir: string) => NativeBinding;
  try {
    return load(packageRoot);
  } catch (e) {
    throw new Error(
      `tfjs-encrypted: the native CPU backend could not be loaded from ${packageRoot} ` +
        `(${(e as Error).message}). Rebuild it with \`npm run build:native\`.`,
    );
  }
});
