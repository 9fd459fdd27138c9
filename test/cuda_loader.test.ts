// The CUDA module on this host: its host checks (the kernels' arithmetic compiled for the CPU)
// pass, its GPU harness runs or skips saying why, loading it without a GPU never breaks the CPU
// path, and device selection gives clear errors.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { packageRoot, resolveDevice } from '../lib/backend/backends';
import { cudaModuleCandidates, probeCuda } from '../lib/backend/cuda_loader';
import { add, RingTensor } from '../lib/ring';

const buildDir = path.join(packageRoot, 'build');
const built = (f: string) => fs.existsSync(path.join(buildDir, f));
const cuda = probeCuda(packageRoot);

// Built whenever nvcc was found at install time (as in CI here).
const hostCheck = built('tfe_cuda_host_check') ? test : test.skip;
hostCheck(`the CUDA kernels' arithmetic matches the CPU kernels (host checks)${built('tfe_cuda_host_check') ? '' : ': skipped, the CUDA part was not built (no nvcc at install)'}`, (t) => {
  const r = spawnSync(path.join(buildDir, 'tfe_cuda_host_check'), { encoding: 'utf8', timeout: 120_000 });
  t.log(r.stdout.trim().split('\n').at(-1));
  t.is(r.status, 0, r.stdout + r.stderr);
});

const harness = built('tfe_cuda_test') ? test : test.skip;
harness('the GPU harness compares every CUDA kernel with the CPU, or skips saying why', (t) => {
  const r = spawnSync(path.join(buildDir, 'tfe_cuda_test'), { encoding: 'utf8', timeout: 600_000 });
  if (cuda.available) {
    t.is(r.status, 0, r.stdout + r.stderr);
  } else {
    t.is(r.status, 77, r.stdout + r.stderr); // ctest's SKIP code
    t.regex(r.stdout, /^SKIP: .+/m);
  }
});

const moduleTest = cuda.modulePath ? test : test.skip;
moduleTest('loading the CUDA module without a GPU leaves the CPU path working, and its kernels refuse with the reason', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const m = require(cuda.modulePath!) as { info(): Record<string, unknown>; fromBytes(...a: unknown[]): unknown };
  const info = m.info();
  t.is(info.backend, 'cuda');
  t.is(info.deviceAvailable, cuda.available);
  if (!cuda.available) {
    t.truthy(info.unavailableReason);
    t.throws(() => m.fromBytes(new Uint8Array(8), [1], 'ring64'), { message: /CUDA backend unavailable: .+/ });
  }
  const x = RingTensor.fromBigInts([1n, 2n], [2], undefined);
  const y = await add(x, x);
  t.deepEqual(y.toBigInts(), [2n, 4n]);
});

test('device selection: cpu always, auto falls back, cuda without a device names the reason, bad values are refused', (t) => {
  t.is(resolveDevice('cpu'), 'cpu');
  t.is(resolveDevice('auto'), cuda.available ? 'cuda' : 'cpu');
  if (!cuda.available) t.throws(() => resolveDevice('cuda'), { message: new RegExp(`device 'cuda' was requested but the CUDA backend is unavailable: .+`) });
  t.throws(() => resolveDevice('gpu' as 'cpu'), { message: /device must be 'auto', 'cpu' or 'cuda'/ });
  const before = process.env.TFE_DEVICE;
  try {
    process.env.TFE_DEVICE = 'cpu';
    t.is(resolveDevice('cuda'), 'cpu', 'TFE_DEVICE overrides the option');
    process.env.TFE_DEVICE = 'tpu';
    t.throws(() => resolveDevice('auto'), { message: /TFE_DEVICE=tpu: expected auto, cpu or cuda/ });
  } finally {
    if (before === undefined) delete process.env.TFE_DEVICE;
    else process.env.TFE_DEVICE = before;
  }
});

test('tfe info names the backend, device, memory and why CUDA is or is not used', (t) => {
  const r = spawnSync(process.execPath, [path.join(packageRoot, 'dist', 'lib', 'cli', 'tfe.js'), 'info', '--json'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const i = JSON.parse(r.stdout) as { backend: string; device: string; memoryBytes: number; cuda: { available: boolean; reason?: string }; buildSystem: string };
  t.is(i.backend, cuda.available ? 'cuda' : 'cpu');
  t.true(i.device.length > 0 && i.memoryBytes > 0);
  t.is(i.cuda.available, cuda.available);
  if (!cuda.available) t.truthy(i.cuda.reason);
  const bad = spawnSync(process.execPath, [path.join(packageRoot, 'dist', 'lib', 'cli', 'tfe.js'), 'info', '--device', 'cuda'], { encoding: 'utf8' });
  if (!cuda.available) {
    t.is(bad.status, 1);
    t.regex(bad.stderr, /tfe: device 'cuda' was requested but the CUDA backend is unavailable: .+/);
  }
});

test('a CUDA module built from source is taken before a prebuilt one, as the CPU module is', (t) => {
  const root = path.join(path.sep, 'some', 'package');
  const built = path.join(root, 'build', 'Release', 'tfe_cuda.node');
  const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'cuda', 'tfe_cuda.node');
  t.deepEqual(cudaModuleCandidates(root), [built, prebuilt]);
});
