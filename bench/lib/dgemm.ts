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
 * comparison is core-for-core), once with OpenBLAS's own core detection and once per kernel family
 * this CPU runs (SkylakeX where it has AVX-512, Haswell where it has AVX2), and keeps the fastest.
 * OpenBLAS 0.3.21 does not know newer cores: on an Intel Xeon of model 207 it falls back to its
 * SSE3 "Prescott" kernels (22 GMAC/s where SkylakeX does 103), which would flatter every ratio.
 * The environment change is local to the child process.
 */
export function runDgemm(threads: number, n = 1024, runs = 10, cpuFeatures = ''): Outcome<DgemmResult> {
  const cores = [undefined, ...(cpuFeatures.includes('avx512f') ? ['SkylakeX'] : []), ...(cpuFeatures.includes('avx2') ? ['Haswell'] : [])];
  let best: Outcome<DgemmResult> | undefined;
  for (const core of cores) {
    const r = runDgemmOnce(threads, n, runs, core);
    if (!r.ok) return r;
    if (!best || (best.ok && r.value.gmacs > best.value.gmacs)) best = r;
  }
  return best as Outcome<DgemmResult>;
}

function runDgemmOnce(threads: number, n: number, runs: number, core: string | undefined): Outcome<DgemmResult> {
  const bin = compile();
  if (!bin.ok) return bin;
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  // A pinned kernel family or L2 size in the environment would understate what OpenBLAS does on
  // this CPU: drop both for this child only (the global environment is untouched), then name the
  // family explicitly where asked.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (core) env.OPENBLAS_CORETYPE = core;
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
