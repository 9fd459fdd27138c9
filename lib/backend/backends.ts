// Backend registry: each backend is a native module exposing the same kernel names. The CPU
// module always exists; the CUDA module is a separate .node, probed safely (cuda_loader.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { contextBackend } from './backend_context';
import { loadCuda, probeCuda } from './cuda_loader';
import { checkNativeEnv } from './env_settings';
import { sweepHostCaches } from './host_cache_sweep';
import type { NativeBinding } from './native_binding';

export interface Backend {
  /** The module: 'cpu' or 'cuda'. */
  readonly name: string;
  readonly native: NativeBinding;
  /** Whether the module has streams (per-party views via streamBackend). */
  readonly streams?: boolean;
  /** The stream this view is bound to (0: the module's default). */
  readonly stream?: number;
}

/** What a user asks for: 'auto' picks CUDA when a driver and a device are present. */
export type DeviceOption = 'auto' | 'cpu' | 'cuda';
const DEVICE_OPTIONS: readonly string[] = ['auto', 'cpu', 'cuda'];

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

/**
 * Returns the named backend, loading it on first use. Without a name: the backend of the
 * current party (local mode), else the one chosen with setBackend, else TFE_DEVICE / 'auto'.
 */
export function getBackend(name?: string): Backend {
  if (name === undefined) {
    const ctx = contextBackend();
    if (ctx) return ctx;
  }
  const n = name ?? current ?? resolveDevice();
  let b = loaded.get(n);
  if (!b) {
    const loader = loaders.get(n);
    if (!loader) throw new Error(`unknown backend '${n}' (registered: ${backendNames().join(', ')})`);
    checkNativeEnv(); // a bad setting fails every load alike, not the first alone
    b = { name: n, native: loader(), streams: n === 'cuda' };
    loaded.set(n, b);
    sweepHostCaches(() => [...loaded.values()].map((l) => l.native));
  }
  return b;
}

/** Freed native buffers kept for reuse, over every loaded module (each has its own cache). */
export function hostCacheBytes(): number {
  let n = 0;
  for (const b of loaded.values()) n += b.native.stats().cachedBytes;
  return n;
}

/**
 * Selects the backend used by ops that are not told otherwise ('auto' resolves now). Call it
 * before computing, not while a computation on the old backend is in flight (backend_context.ts).
 */
export function setBackend(name: string): Backend {
  const n = name === 'auto' ? resolveDevice('auto') : name;
  const b = getBackend(n);
  current = n;
  return b;
}

/** A device option from a user (a flag), named in the error when it is none of auto, cpu, cuda. */
export function checkDeviceOption(v: string, where: string): DeviceOption {
  if (!DEVICE_OPTIONS.includes(v)) throw new TypeError(`${where} must be auto, cpu or cuda, got ${JSON.stringify(v.slice(0, 40))}`);
  return v as DeviceOption;
}

/**
 * The backend a device option means here. TFE_DEVICE, when set, overrides the option (operators
 * switch a deployment without code changes). 'cuda' that cannot be had is an error saying why;
 * 'auto' falls back to the CPU.
 */
export function resolveDevice(option: DeviceOption = 'auto'): string {
  const env = process.env.TFE_DEVICE;
  if (env !== undefined && env !== '' && !DEVICE_OPTIONS.includes(env))
    throw new Error(`TFE_DEVICE=${env}: expected auto, cpu or cuda`);
  if (!DEVICE_OPTIONS.includes(option)) throw new TypeError(`device must be 'auto', 'cpu' or 'cuda', got ${JSON.stringify(option)}`);
  const want = (env || option) as DeviceOption;
  if (want === 'cpu') return 'cpu';
  const status = probeCuda(packageRoot);
  if (want === 'cuda') {
    if (!status.available) throw new Error(`device 'cuda' was requested${env ? ' (TFE_DEVICE=cuda)' : ''} but the CUDA backend is unavailable: ${status.reason}`);
    return 'cuda';
  }
  return status.available ? 'cuda' : 'cpu';
}

// The package root holds build/ (source builds) and prebuilds/ (shipped binaries).
export const packageRoot = path.resolve(__dirname, '..', '..', '..');

// A source build (build/Release, then build/Debug) when there is one, else the CPU prebuild of
// prebuilds/<platform>-<arch>/ (scripts/prebuild.js names it tfjs-encrypted.node; the CUDA
// prebuild sits in its cuda/ subfolder). The install step (scripts/build-native.js) keeps a
// prebuild only once it loads on the host, and builds from source otherwise.
export function cpuModulePath(root: string = packageRoot): string {
  const built = ['Release', 'Debug'].map((d) => path.join(root, 'build', d, 'tfe_native.node')).find((f) => fs.existsSync(f));
  if (built) return built;
  // Only prebuilds/: node-gyp-build's resolve() scans build/Release first, and with tfe_native.node
  // gone from there (a failed relink) it returned tfe_cuda.node.
  const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'tfjs-encrypted.node');
  if (fs.existsSync(prebuilt)) return prebuilt;
  throw new Error(`no native CPU module: neither build/Release/tfe_native.node nor ${path.relative(root, prebuilt)}`);
}

registerBackend('cpu', () => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(cpuModulePath()) as NativeBinding;
  } catch (e) {
    throw new Error(
      `tfjs-encrypted: the native CPU backend could not be loaded from ${packageRoot} ` +
        `(${(e as Error).message}). Build it from source with \`node ${path.join(packageRoot, 'scripts', 'build-native.js')} --force\` (a C++17 compiler and CMake >= 3.19).`,
    );
  }
});

registerBackend('cuda', () => loadCuda(packageRoot));
