// Kernel benchmark (not a test): ring matmul and conv2d throughput, PRG throughput, the FSS
// protocol's DCF and DPF key generation and evaluation (bench/lib/dcf_bench.ts, dpf_bench.ts), and two
// external yardsticks measured in the same run on the same machine: OpenBLAS dgemm for the
// matmul and `openssl speed` AES-128-CTR for the PRG.
//
//   npm run bench:kernels            markdown table
//   npm run bench:kernels -- --json  one JSON object on stdout, nothing else (notes go to stderr)
import { randomFillSync } from 'node:crypto';

import { conv2d, type ConvImpl, cpuInfo, matmul, type MatMulImpl, memory, prgRing, randomSeed, RingTensor, setNumThreads } from '../lib/ring';
import { benchDcf } from './lib/dcf_bench';
import { benchDpf } from './lib/dpf_bench';
import { benchFoldKeys } from './lib/dcf_many_bench';
import { runDgemm } from './lib/dgemm';
import { startInterferenceMeter } from './lib/interference';
import { machineInfo } from './lib/machine';
import { runOpensslSpeed } from './lib/openssl_speed';
import { type BenchResult, type Measured, renderMarkdown, type Row } from './lib/report';
import { checkConv2dValid, checkMatmul, type ConvDims } from './lib/spot_check';
import { gmacs, type Timing, timeAsync, type TimingOptions } from './lib/timing';
import { checkOptions } from './lib/args';

const WARMUP = 2;
const MATMUL_SHAPES: [number, number, number][] = [
  [1, 784, 128], // one MNIST image through a dense layer: latency-bound
  [128, 784, 128], // a batch through the same layer
  [128, 800, 500], // LeNet's dense layer (800 = 4*4*50 after the convolutions)
  [128, 500, 10], // LeNet's classifier head: narrow (n <= 12), C computed transposed
  [1024, 1024, 1024], // large enough that the micro-kernel, not dispatch, dominates
];
const PRG_ELEMENTS = 1 << 24; // 128 MiB of output: well past the caches, so this is steady state
// 8 MiB of output: stays in a server's L3 (as `openssl speed`'s 16 KiB blocks stay in L1), so this
// times the AES and not the memory; the 128 MiB figure is bounded by writing to DRAM (on the
// Intel Xeon of 2026-12-01 both 128-bit AES-NI and 512-bit VAES give 8.7 GB/s there).
const PRG_CACHED_ELEMENTS = 1 << 20;
const BYTES_PER_RING = 8;

// Many short runs for small shapes (the noise is in dispatch), a fixed handful for big ones.
const SMALL: TimingOptions = { warmup: WARMUP, minRuns: 20, minTotalMs: 300, maxRuns: 500 };
const LARGE: TimingOptions = { warmup: WARMUP, minRuns: 8, minTotalMs: 0 };

/** Random ring data and its tensor; the host copy is kept for the spot check. */
function randomRing(shape: number[]): { data: BigUint64Array; t: RingTensor } {
  const data = new BigUint64Array(shape.reduce((a, b) => a * b, 1));
  // The kernels' speed does not depend on the values. randomFillSync fills at most 2^31-1
  // bytes per call; every tensor here is far below that.
  randomFillSync(new Uint8Array(data.buffer));
  return { data, t: RingTensor.fromBigUint64Array(data, shape) };
}

/** Four significant digits: more would only be noise. */
const sig = (x: number) => Number(x.toPrecision(4));
const measured = (macs: number, t: Timing): Measured => ({ gmacs: sig(gmacs(macs, t.bestMs)), ms: sig(t.bestMs) });

/** Runs `op` once and spot-checks its result, then times it. Failures become notes. */
async function checkThenTime(op: () => Promise<RingTensor>, check: (out: BigUint64Array) => string | undefined, opts: TimingOptions, note: (s: string) => void): Promise<Timing> {
  const out = await op();
  const failure = check(out.toBigUint64Array());
  out.dispose();
  if (failure) note(failure);
  return timeAsync(async () => (await op()).dispose(), opts);
}

async function benchMatmul(m: number, k: number, n: number, note: (s: string) => void, impl: MatMulImpl = 'auto'): Promise<Timing> {
  const a = randomRing([m, k]);
  const b = randomRing([k, n]);
  try {
    const check = (c: BigUint64Array) => checkMatmul(a.data, b.data, c, m, k, n);
    return await checkThenTime(() => matmul(a.t, b.t, { impl }), check, m * k * n > 1e8 ? LARGE : SMALL, note);
  } finally {
    a.t.dispose();
    b.t.dispose();
  }
}

const CONV: ConvDims = { n: 128, h: 28, w: 28, c: 1, kh: 5, kw: 5, o: 20 };

async function benchConv2d(note: (s: string) => void, impl: ConvImpl = 'auto'): Promise<{ t: Timing; macs: number }> {
  const d = CONV;
  const x = randomRing([d.n, d.h, d.w, d.c]);
  const f = randomRing([d.kh, d.kw, d.c, d.o]);
  // VALID, stride 1: (h-kh+1) x (w-kw+1) outputs per image and filter, each a kh*kw*c dot product.
  const macs = d.n * (d.h - d.kh + 1) * (d.w - d.kw + 1) * d.o * d.kh * d.kw * d.c;
  try {
    const check = (y: BigUint64Array) => checkConv2dValid(x.data, f.data, y, d);
    const t = await checkThenTime(() => conv2d(x.t, f.t, { strides: 1, padding: 'VALID', impl }), check, SMALL, note);
    return { t, macs };
  } finally {
    x.t.dispose();
    f.t.dispose();
  }
}

/**
 * What moving a kernel's bytes costs here: reading its inputs' bytes (copied into a buffer that
 * stays warm, as the kernel's inputs are) and writing its output's bytes into a fresh buffer (the
 * kernels allocate their outputs too); best of many runs. The yardstick for shapes bound by
 * memory rather than arithmetic (issue 16: within 2x of it).
 */
async function benchCopy(inBytes: number, outBytes: number): Promise<Timing> {
  const src = Buffer.alloc(inBytes, 7), sink = Buffer.alloc(inBytes), out = Buffer.alloc(outBytes, 9);
  return timeAsync(async () => {
    src.copy(sink);
    out.copy(Buffer.allocUnsafeSlow(outBytes));
  }, SMALL);
}

/** Fresh seed per run, as a protocol would use it; allocating the output is part of the cost. */
const benchPrg = (elements = PRG_ELEMENTS) =>
  timeAsync(async () => (await prgRing(randomSeed(), [elements])).dispose(), { warmup: WARMUP, minRuns: elements < PRG_ELEMENTS ? 40 : 6, minTotalMs: 0 });
const gbps = (t: Timing, elements = PRG_ELEMENTS) => (elements * BYTES_PER_RING) / (t.bestMs / 1e3) / 1e9;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  checkOptions(args, { flags: ['--json'], usage: 'npm run bench:kernels [-- --json]' });
  const json = args.includes('--json');
  const notes: string[] = [];
  // Notes go to stderr as they happen (so --json stdout stays one object) and into the output.
  const note = (s: string) => {
    notes.push(s);
    process.stderr.write(`note: ${s}\n`);
  };
  const machine = machineInfo();
  const otherLoad = startInterferenceMeter();
  const threads = cpuInfo().threads;
  const rows: Row[] = [];

  const matmulResults: Record<string, Measured> = {};
  for (const [m, k, n] of MATMUL_SHAPES) {
    const key = `${m}x${k}x${n}`;
    const t = await benchMatmul(m, k, n, note);
    matmulResults[key] = measured(m * k * n, t);
    rows.push({ kernel: 'matmul', shape: key, bestMs: t.bestMs, medianMs: t.medianMs, runs: t.runs, rate: `${matmulResults[key].gmacs.toFixed(2)} GMAC/s` });
  }

  // Each micro-kernel 'auto' chose among, at the large shape: on another CPU another one may win.
  const byKernel: Record<string, Measured> = {};
  for (const name of cpuInfo().matmulRates?.match(/[a-z0-9]+(?= [0-9.]+)/g) ?? []) {
    const t = await benchMatmul(1024, 1024, 1024, note, name as MatMulImpl);
    byKernel[name] = measured(1024 ** 3, t);
    rows.push({ kernel: `matmul (${name})`, shape: '1024x1024x1024', bestMs: t.bestMs, medianMs: t.medianMs, runs: t.runs, rate: `${byKernel[name].gmacs.toFixed(2)} GMAC/s` });
  }

  const conv = await benchConv2d(note);
  const convResult = measured(conv.macs, conv.t);
  rows.push({ kernel: 'conv2d', shape: '128x28x28x1 ⊛ 5x5x1x20 VALID', bestMs: conv.t.bestMs, medianMs: conv.t.medianMs, runs: conv.t.runs, rate: `${convResult.gmacs.toFixed(2)} GMAC/s` });
  // What 'auto' chose between for it: the direct kernel's forms (AVX-512) and im2col + vpmullq tiles.
  const convByKernel: Record<string, Measured> = {};
  const directForms = cpuInfo().convDirectRates?.match(/[a-z0-9]+(?= [0-9.]+)/g) ?? [];
  for (const impl of [...directForms.map((f) => `direct-${f}` as ConvImpl), ...(directForms.length ? ['avx512' as const] : [])]) {
    const c = await benchConv2d(note, impl);
    convByKernel[impl] = measured(c.macs, c.t);
    rows.push({ kernel: `conv2d (${impl.startsWith('direct') ? impl : `im2col + ${impl}`})`, shape: '128x28x28x1 ⊛ 5x5x1x20 VALID', bestMs: c.t.bestMs, medianMs: c.t.medianMs, runs: c.t.runs, rate: `${convByKernel[impl].gmacs.toFixed(2)} GMAC/s` });
  }

  // The shapes bound by memory, against copying the bytes they move.
  const d = CONV, ohw = d.h - d.kh + 1, ow = d.w - d.kw + 1;
  const moved: [string, number, number, number][] = [
    ['matmul 1x784x128', 8 * (784 + 784 * 128), 8 * 128, matmulResults['1x784x128'].ms],
    ['conv2d 128x28x28x1 ⊛ 5x5x1x20', 8 * (d.n * d.h * d.w * d.c + d.kh * d.kw * d.c * d.o), 8 * d.n * ohw * ow * d.o, convResult.ms],
  ];
  const vsCopy: Record<string, number> = {};
  for (const [what, inBytes, outBytes, ms] of moved) {
    const t = await benchCopy(inBytes, outBytes);
    vsCopy[what] = sig(ms / t.bestMs);
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    rows.push({ kernel: `memcpy of ${what}'s bytes (inputs warm, output fresh)`, shape: `${mib(inBytes)} + ${mib(outBytes)} MiB`, bestMs: t.bestMs, medianMs: t.medianMs, runs: t.runs, rate: `${((inBytes + outBytes) / t.bestMs / 1e6).toFixed(2)} GB/s` });
  }

  const prgAll = await benchPrg();
  let prg1: Timing, prgCached1: Timing;
  setNumThreads(1);
  try {
    prg1 = await benchPrg();
    prgCached1 = await benchPrg(PRG_CACHED_ELEMENTS);
  } finally {
    setNumThreads(threads); // later kernels and any caller in this process get the full pool back
  }
  const prgGbps = sig(gbps(prgAll));
  const prgGbps1 = sig(gbps(prg1));
  const prgCachedGbps1 = sig(gbps(prgCached1, PRG_CACHED_ELEMENTS));
  rows.push({ kernel: `prgRing (${threads} threads)`, shape: '2^24 ring elements', bestMs: prgAll.bestMs, medianMs: prgAll.medianMs, runs: prgAll.runs, rate: `${prgGbps.toFixed(2)} GB/s` });
  rows.push({ kernel: 'prgRing (1 thread)', shape: '2^24 ring elements', bestMs: prg1.bestMs, medianMs: prg1.medianMs, runs: prg1.runs, rate: `${prgGbps1.toFixed(2)} GB/s` });
  rows.push({ kernel: 'prgRing (1 thread, output in cache)', shape: '2^20 ring elements', bestMs: prgCached1.bestMs, medianMs: prgCached1.medianMs, runs: prgCached1.runs, rate: `${prgCachedGbps1.toFixed(2)} GB/s` });

  const dcf = await benchDcf(threads, note);
  const perS = (t: Timing) => sig((dcf.n / t.bestMs) * 1e3);
  rows.push({ kernel: 'dcfKeygen2 (1 thread)', shape: `2^16 elements, 63 bits`, bestMs: dcf.keygen.bestMs, medianMs: dcf.keygen.medianMs, runs: dcf.keygen.runs, rate: `${(perS(dcf.keygen) / 1e6).toFixed(2)} M keys/s` });
  rows.push({ kernel: 'dcfEval2 (1 thread)', shape: `2^16 elements, 63 bits`, bestMs: dcf.evaluation.bestMs, medianMs: dcf.evaluation.medianMs, runs: dcf.evaluation.runs, rate: `${(perS(dcf.evaluation) / 1e6).toFixed(2)} M evals/s` });
  rows.push({ kernel: 'dcfBitKeygen (1 thread)', shape: `2^16 elements, 63 bits`, bestMs: dcf.bitKeygen.bestMs, medianMs: dcf.bitKeygen.medianMs, runs: dcf.bitKeygen.runs, rate: `${(perS(dcf.bitKeygen) / 1e6).toFixed(2)} M keys/s` });
  rows.push({ kernel: 'dcfBitEval (1 thread)', shape: `2^16 elements, 63 bits`, bestMs: dcf.bitEvaluation.bestMs, medianMs: dcf.bitEvaluation.medianMs, runs: dcf.bitEvaluation.runs, rate: `${(perS(dcf.bitEvaluation) / 1e6).toFixed(2)} M evals/s` });

  // The equality gate's DPF (one per equality test, where comparisons take two DCF keys).
  const dpf = await benchDpf(threads, note);
  for (const d of dpf) {
    rows.push({ kernel: 'dpfKeygen (1 thread)', shape: `2^16 elements, ${d.bits} bits`, bestMs: d.keygen.bestMs, medianMs: d.keygen.medianMs, runs: d.keygen.runs, rate: `${(perS(d.keygen) / 1e6).toFixed(2)} M keys/s` });
    rows.push({ kernel: 'dpfEval (1 thread)', shape: `2^16 elements, ${d.bits} bits`, bestMs: d.evaluation.bestMs, medianMs: d.evaluation.medianMs, runs: d.evaluation.runs, rate: `${(perS(d.evaluation) / 1e6).toFixed(2)} M evals/s` });
  }

  // A folded product's keys (network C's head, 500 gate elements x 10 columns): one tree per gate element against a key per cell.
  const fold = await benchFoldKeys(500, 10, threads, note);
  const cellsPerS = (t: Timing) => sig(((fold.elements * fold.k) / t.bestMs) * 1e3);
  const foldShape = `${fold.elements} x ${fold.k} cells, 48 bits`;
  for (const [name, f] of [['dcfKeygenMany, a key per gate element', fold.many], ['dcfKeygen2, a key per cell', fold.perCell]] as const)
    rows.push({ kernel: `folded ${name} (1 thread)`, shape: `${foldShape}, ${(f.keyBytes / fold.elements / fold.k).toFixed(0)} B/cell`, bestMs: f.keygen.bestMs, medianMs: f.keygen.medianMs, runs: f.keygen.runs, rate: `${(cellsPerS(f.keygen) / 1e6).toFixed(2)} M cells/s` });
  for (const [name, f] of [['dcfEvalMany', fold.many], ['dcfEval2', fold.perCell]] as const)
    rows.push({ kernel: `folded ${name} (1 thread)`, shape: foldShape, bestMs: f.evaluation.bestMs, medianMs: f.evaluation.medianMs, runs: f.evaluation.runs, rate: `${(cellsPerS(f.evaluation) / 1e6).toFixed(2)} M cells/s` });

  // External references last, while no native kernel is running in this process.
  const dgemm = runDgemm(threads, 1024, 10, cpuInfo().cpuFeatures);
  let dgemmGmacs: number | null = null;
  if (dgemm.ok) {
    const d = dgemm.value;
    dgemmGmacs = sig(d.gmacs);
    rows.push({ kernel: `OpenBLAS dgemm f64 (${d.threads} threads, ${d.core})`, shape: `${d.n}x${d.n}x${d.n}`, bestMs: d.best_ms, medianMs: d.median_ms, runs: d.runs, rate: `${dgemmGmacs.toFixed(2)} GMAC/s` });
  } else note(dgemm.note);

  const ossl = runOpensslSpeed();
  let opensslGbps: number | null = null;
  if (ossl.ok) {
    opensslGbps = sig(ossl.value.gbps);
    rows.push({ kernel: `openssl speed aes-128-ctr (1 thread; ${ossl.value.version.split(' ').slice(0, 2).join(' ')})`, shape: `${ossl.value.blockBytes}-byte blocks`, rate: `${opensslGbps.toFixed(2)} GB/s` });
  } else note(ossl.note);

  const big = matmulResults['1024x1024x1024'];
  const others = otherLoad();
  // 10% of the machine is about one build job's worth on 2 cores for a fifth of the run.
  if (others !== undefined && others > 0.1)
    note(`other processes used ${(others * 100).toFixed(0)}% of the CPU during this run; absolute numbers are likely low (ratios measured in the same run are less affected)`);
  const left = memory().tensors;
  if (left !== 0) note(`${left} tensors still alive at the end: the benchmark leaks`);

  const result: BenchResult = {
    machine,
    statistic: 'best',
    other_cpu_fraction: others === undefined ? null : sig(others),
    matmul: matmulResults,
    conv2d: convResult,
    conv2d_by_kernel: convByKernel,
    dgemm_gmacs: dgemmGmacs,
    matmul_vs_dgemm: dgemmGmacs === null ? null : sig(big.gmacs / dgemmGmacs),
    matmul_by_kernel_vs_dgemm: dgemmGmacs === null ? null : Object.fromEntries(Object.entries(byKernel).map(([k, v]) => [k, sig(v.gmacs / dgemmGmacs)])),
    prg_gbps: prgGbps,
    prg_gbps_1thread: prgGbps1,
    openssl_gbps: opensslGbps,
    prg_gbps_1thread_cached: prgCachedGbps1,
    prg_vs_openssl: opensslGbps === null ? null : sig(prgCachedGbps1 / opensslGbps),
    prg_dram_vs_openssl: opensslGbps === null ? null : sig(prgGbps1 / opensslGbps),
    prg_vs_openssl_2thread: opensslGbps === null ? null : sig(prgGbps / opensslGbps),
    dcf_keygen2_per_s: perS(dcf.keygen),
    dcf_eval2_per_s: perS(dcf.evaluation),
    dcf_bit_keygen_per_s: perS(dcf.bitKeygen),
    dcf_bit_eval_per_s: perS(dcf.bitEvaluation),
    dpf_keygen_per_s_63: perS(dpf[0].keygen),
    dpf_eval_per_s_63: perS(dpf[0].evaluation),
    dpf_eval_vs_dcf_bit_eval_63: sig(dpf[0].evaluation.bestMs / dcf.bitEvaluation.bestMs),
    fold_key_bytes_many_vs_per_cell: sig(fold.many.keyBytes / fold.perCell.keyBytes),
    fold_keygen_many_vs_per_cell: sig(fold.many.keygen.bestMs / fold.perCell.keygen.bestMs),
    fold_eval_many_vs_per_cell: sig(fold.many.evaluation.bestMs / fold.perCell.evaluation.bestMs),
    vs_copy: vsCopy,
    notes,
  };
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${renderMarkdown(result, rows, WARMUP)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:kernels failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
