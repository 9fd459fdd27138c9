// Finds and safely probes the CUDA module (tfe_cuda.node). It is a separate binary so that a host
// without a GPU or driver never loads CUDA code on the CPU path, and it is probed in a child
// process first, as node-llama-cpp does: a broken driver that crashes or hangs the probe costs a
// clear "unavailable" reason, not the server process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeBinding, NativeInfo } from './native_binding';

export interface CudaStatus {
  available: boolean;
  /** Why not, when not available. */
  reason?: string;
  /** The module file that was (or would be) loaded. */
  modulePath?: string;
  /** The module's info() as the probe saw it. */
  info?: NativeInfo;
}

// The CUDA prebuild lives in its own subfolder of prebuilds/<platform>-<arch>/, apart from the CPU
// one (cpuModulePath takes that by name). A source build comes first, as for the
// CPU module (cpuModulePath): a CUDA module rebuilt in a checkout that also holds prebuilds was
// passed over for the stale prebuilt one, beside a fresh CPU module.
export function cudaModuleCandidates(root: string): string[] {
  return [
    path.join(root, 'build', 'Release', 'tfe_cuda.node'),
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'cuda', 'tfe_cuda.node'),
  ];
}

// Long enough for a GPU newer than the build's machine code, whose driver compiles every kernel's
// PTX at the (eager) probe on a first start.
const PROBE_TIMEOUT_MS = 120_000;

let cached: CudaStatus | undefined;

/** Locates the CUDA module and probes it in a child process (once per process). */
export function probeCuda(root: string): CudaStatus {
  if (cached) return cached;
  const modulePath = cudaModuleCandidates(root).find((p) => fs.existsSync(p));
  if (!modulePath) {
    cached = {
      available: false,
      reason: `this installation has no CUDA module (looked for ${cudaModuleCandidates(root).join(' and ')}; build on a host with nvcc, or install a release with CUDA prebuilds)`,
    };
    return cached;
  }
  if (process.platform !== 'linux') {
    cached = { available: false, modulePath, reason: `the CUDA module is built for Linux only (this is ${process.platform})` };
    return cached;
  }
  const script = `const m = require(${JSON.stringify(modulePath)}); process.stdout.write(JSON.stringify(m.info()));`;
  // Eager module loading in the probe: CUDA loads a kernel (and has the driver compile its PTX) at
  // its first launch by default, so a driver that cannot run this build's kernels (an older minor
  // version than the runtime, a GPU newer than the build's machine code) would pass the probe and
  // fail mid-query. Loaded eagerly, they fail here, at the context the probe makes.
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env: { ...process.env, TFE_DEVICE: 'cpu', CUDA_MODULE_LOADING: 'EAGER' } });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    const err = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    cached = { available: false, modulePath, reason: `probing ${modulePath} failed (${why})${err ? `: ${err}` : ''}` };
    return cached;
  }
  let info: NativeInfo;
  try {
    info = JSON.parse(r.stdout) as NativeInfo;
  } catch {
    cached = { available: false, modulePath, reason: `probing ${modulePath} printed no device report` };
    return cached;
  }
  cached = info.deviceAvailable
    ? { available: true, modulePath, info }
    : { available: false, modulePath, info, reason: String(info.unavailableReason ?? 'no usable CUDA device') };
  return cached;
}

/** Loads the CUDA module in this process, or throws saying why it cannot be used. */
export function loadCuda(root: string): NativeBinding {
  const s = probeCuda(root);
  if (!s.available || !s.modulePath) throw new Error(`tfjs-encrypted: the CUDA backend is unavailable: ${s.reason}`);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(s.modulePath) as NativeBinding;
}
