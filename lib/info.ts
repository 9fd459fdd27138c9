import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type Backend, cpuModulePath, getBackend, packageRoot } from './backend/backends';
import { type CudaStatus, probeCuda } from './backend/cuda_loader';
import type { NativeInfo, NativeStats } from './backend/native_binding';
import { liveTensorCount } from './tensor/ring_tensor';

export interface BackendInfo extends NativeInfo {
  version: string;
  /** The device computing: the GPU's name, or the CPU model. */
  device: string;
  /** The device's memory in bytes (GPU memory, or the host's RAM). */
  memoryBytes: number;
  /** Whether a CUDA device could be used here, and why not. */
  cuda: CudaStatus;
  /** The module file in use: a shipped prebuild, or compiled from source on this machine. */
  binary: BinaryInfo;
}

/** Where the native module in use came from. */
export interface BinaryInfo {
  /**
   * 'prebuild': a binary shipped in prebuilds/<platform>-<arch>/ (made by `npm run prebuild`);
   * 'source': compiled here (`npm install` or `npm run build:native`: build/Release);
   * 'unknown': loaded from elsewhere.
   */
  origin: 'prebuild' | 'source' | 'unknown';
  /** The .node file loaded. */
  path: string;
  /** A prebuild's tag from prebuilds/<platform>-<arch>/prebuild.json: package, version, platform, Node-API version, hash of the native sources. */
  tag?: string;
  /** The commit a prebuild was built from ('+dirty': with uncommitted native changes). */
  commit?: string;
  builtAt?: string;
  /** false for a prebuild made from a development build directory rather than the release configuration. */
  release?: boolean;
  /** Why a prebuild has no tag. */
  note?: string;
}

interface PrebuildManifest {
  tag?: string;
  commit?: string | null;
  builtAt?: string;
  release?: boolean;
  files?: Record<string, string>;
}

/** Where the module of `backend` ('cpu' or 'cuda') was loaded from, with the prebuild's tag. */
export function binaryInfo(backend: string, root: string = packageRoot): BinaryInfo {
  let file: string | undefined;
  try {
    file = backend === 'cuda' ? probeCuda(root).modulePath : cpuModulePath(root);
  } catch {
    file = undefined;
  }
  if (!file) return { origin: 'unknown', path: '', note: `no ${backend} module found under ${root}` };
  const inside = (dir: string): string | undefined => {
    const r = path.relative(dir, file!);
    return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : undefined;
  };
  if (inside(path.join(root, 'build'))) return { origin: 'source', path: file };
  const platDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const within = inside(platDir);
  if (within === undefined) return { origin: inside(path.join(root, 'prebuilds')) ? 'prebuild' : 'unknown', path: file };
  const manifestFile = path.join(platDir, 'prebuild.json');
  let m: PrebuildManifest;
  try {
    m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as PrebuildManifest;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it has no prebuild.json' : `its prebuild.json cannot be read (${(e as Error).message})`;
    return { origin: 'prebuild', path: file, note: `untagged prebuild: ${why}` };
  }
  const key = within.split(path.sep).join('/');
  if (!m.files || !(key in m.files)) return { origin: 'prebuild', path: file, note: `untagged prebuild: prebuild.json does not list ${key}` };
  return {
    origin: 'prebuild',
    path: file,
    tag: m.tag,
    ...(m.commit ? { commit: m.commit } : {}),
    ...(m.builtAt ? { builtAt: m.builtAt } : {}),
    release: m.release !== false,
  };
}

/** One line for `tfe info`: which prebuild, or compiled from source, and the file. */
export function describeBinary(b: BinaryInfo, buildSystem?: string): string {
  if (b.origin === 'source') return `compiled from source${buildSystem ? ` (${buildSystem})` : ''}: ${b.path}`;
  if (b.origin === 'unknown') return b.path ? `loaded from ${b.path}` : b.note ?? 'unknown';
  const tag = b.tag
    ? `${b.tag}${b.commit ? `, commit ${b.commit}` : ''}${b.release === false ? ', not a release build' : ''}`
    : b.note ?? 'untagged';
  return `prebuild ${tag}: ${b.path}`;
}

/** The backend in use (or the one given), its device and memory, and how it was built. */
export function info(backend: Backend = getBackend()): BackendInfo {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { version } = require('../../package.json') as { version: string };
  const n = backend.native.info();
  const gpu = n.backend === 'cuda';
  const { info: _probeInfo, ...cuda } = probeCuda(packageRoot);
  return {
    ...n,
    version,
    device: gpu ? n.deviceName ?? 'unknown GPU' : os.cpus()[0]?.model ?? 'unknown CPU',
    memoryBytes: gpu ? n.deviceMemory ?? 0 : os.totalmem(),
    cuda,
    binary: binaryInfo(gpu ? 'cuda' : 'cpu'),
  };
}

/** The CPU module's report, with its CPU fields present (features, matmul kernel, AES, threads). */
export function cpuInfo(): Required<Pick<NativeInfo, 'cpuFeatures' | 'matmulKernel' | 'aes' | 'threads'>> & NativeInfo {
  const n = getBackend('cpu').native.info();
  return { ...n, cpuFeatures: n.cpuFeatures ?? '', matmulKernel: n.matmulKernel ?? '', aes: n.aes ?? '', threads: n.threads ?? 1 };
}

/** Live tensors and native memory, to find leaks. */
export function memory(backend: Backend = getBackend()): NativeStats & { tensors: number } {
  return { ...backend.native.stats(), tensors: liveTensorCount() };
}

/** Size of the native thread pool used inside kernels (default: all cores, or TFE_NUM_THREADS). */
export function setNumThreads(n: number, backend: Backend = getBackend()): void {
  backend.native.setNumThreads(n);
}
