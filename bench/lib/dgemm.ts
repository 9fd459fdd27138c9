// OpenBLAS dgemm as the reference point for the ring matmul. The C helper is compiled on demand
// into bench/.cache/ (git-ignored) so that neither the library nor its tests ever need a BLAS;
// if the compiler or OpenBLAS is missing we return a note instead of failing the benchmark.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DgemmResult {
  n: number;
  runs: number;
  threads: number;
  /** Kernel family OpenBLAS picked at run time (e.g. SkylakeX, Haswell, Zen). */
  core: string;
  best_ms: number;
  median_ms: number;
  gmacs: number;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; note: string };

// Compiled JS lives in dist/bench/lib/, sources in bench/: both are found from the repo root.
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const source = path.join(repoRoot, 'bench', 'reference', 'dgemm.c');
const cacheDir = path.join(repoRoot, 'bench', '.cache');
const binary = path.join(cacheDir, 'dgemm');

const INSTALL_HINT = 'install it with `apt-get install -y libopenblas-dev` (bench-only)';

function compile(): Outcome<string> {
  if (!fs.existsSync(source)) return { ok: false, note: `dgemm reference source missing: ${source}` };
  // Rebuild only when the source is newer than the cached binary.
  if (fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs) return { ok: true, value: binary };
  fs.mkdirSync(cacheDir, { recursive: true });
  // Compile to a temporary name and rename, so two concurrent bench runs never execute a
  // half-written binary. -I/usr/include/openblas covers distros that keep cblas.h there.
  const tmp = `${binary}.${process.pid}.tmp`;
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-O2', '-I/usr/include/openblas', source, '-o', tmp, '-lopenblas'], { encoding: 'utf8' });
  if (r.error) return { ok: false, note: `no C compiler (${cc}: ${r.error.message}); dgemm reference skipped` };
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    const err = (r.stderr || '').trim();
    const missingBlas = /cblas\.h|-lopenblas|openblas/i.test(err);
    const why = missingBlas ? `OpenBLAS not found; ${INSTALL_HINT}` : `compile failed: ${err.split('\n').slice(-3).join(' | ')}`;
    return { ok: false, note: `dgemm reference skipped: ${why}` };
  }
  fs.renameSync(tmp, binary);
  return { ok: true, value: binary };
}

/**
 * Runs the helper with `threads` OpenBLAS threads (the same count as the ring kernels, so the
 * comparison is core-for-core). The environment change is local to the child process.
 */
export function runDgemm(threads: number, n = 1024, runs = 10): Outcome<DgemmResult> {
  const bin = compile();
  if (!bin.ok) return bin;
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  // This machine's environment pins OpenBLAS to the Haswell (AVX2) kernels and a small L2 size,
  // which would understate what OpenBLAS does on this CPU. Drop both for this child only, so
  // OpenBLAS detects the core itself; the global environment (tests, tox, other tools) is untouched.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(bin.value, [String(n), String(runs)], { encoding: 'utf8', env, timeout: 120_000 });
  if (r.error) return { ok: false, note: `dgemm reference failed to run: ${r.error.message}` };
  if (r.status !== 0) {
    const how = r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
    return { ok: false, note: `dgemm reference failed (${how}): ${(r.stderr || '').trim()}` };
  }
  try {
    const j = JSON.parse(r.stdout.trim()) as DgemmResult;
    if (!(j.gmacs > 0)) throw new Error('no positive gmacs');
    return { ok: true, value: j };
  } catch (e) {
    return { ok: false, note: `dgemm reference printed unexpected output (${(e as Error).message}): ${r.stdout.slice(0, 200)}` };
  }
}
