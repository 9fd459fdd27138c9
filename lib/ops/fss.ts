// Function secret sharing: the Distributed Comparison Function (DCF) kernels of
// native/src/fss (construction, key layout and randomness documented in native/src/fss/dcf.h),
// and the Distributed Point Function (DPF) of the equality gate (native/src/fss/dpf.h).
//
// dcfKeygen gives two keys per element such that, for public x,
//   dcfEval(key0, x, party 0) + dcfEval(key1, x, party 1) = beta if (x mod 2^bits) < (alpha mod 2^bits), else 0
// (mod 2^64, unsigned comparison of bits-bit integers; bits of x and alpha above `bits` are ignored).
// All randomness of keygen comes from the PRG stream of (seed, nonce): the same pair always gives
// the same keys, so a nonce must never be reused with one seed for different alphas.
import { contextBackend } from '../backend/backend_context';
import type { Backend } from '../backend/backends';
import type { Attrs } from '../backend/native_binding';
import { RingTensor } from '../tensor/ring_tensor';
import * as K from './kernel_names';
import { traceNow, tracing } from '../trace';
import { runKernel1, traceKernel } from './run_kernel';
import { requireDType, requireInt, requireTensor } from './validate';

export const DCF_MAX_BITS = 64;

/** Payloads of one many-payload key (dcfKeygenMany; native kDcfMaxPayloads). */
export const DCF_MAX_PAYLOADS = 256;

/**
 * uint64 words per DCF key and element: 3 * bits + 4 (1544 bytes for bits = 63); with two
 * payloads (dcfKeygen2), 4 * bits + 5 (2056 bytes); with P (dcfKeygenMany), (2 + P) * bits + 3 + P.
 */
export function dcfKeyWords(bits: number, payloads = 1): number {
  requireInt('dcfKeyWords', payloads, 'payloads', 1, DCF_MAX_PAYLOADS);
  return (2 + payloads) * requireInt('dcfKeyWords', bits, 'bits', 1, DCF_MAX_BITS) + 3 + payloads;
}

export interface DcfKeygenOptions {
  /** Domain bit length, 1..64. */
  bits: number;
  /** 16-byte PRG seed: the only source of keygen's randomness (with the nonce). */
  seed: Uint8Array;
  /** PRG nonce in [0, 2^64); required, never reused with the same seed. */
  nonce: bigint;
  /**
   * Index of alpha[0] in a longer vector whose keys are made in chunks (default 0): chunk keys
   * with their offsets under one nonce equal the keys of one call on the whole vector.
   */
  first?: number;
  /**
   * Forces the implementation (tests): 'auto' uses VAES/AES-NI and the AVX-512 walk where the CPU
   * has them, 'aesni' the AES-NI loops, 'portable' table AES and the scalar walk.
   */
  impl?: 'auto' | 'aesni' | 'portable';
}

export interface DcfEvalOptions {
  bits: number;
  party: 0 | 1;
  impl?: 'auto' | 'aesni' | 'portable';
}

function requireVector(op: string, t: unknown, what: string): asserts t is RingTensor {
  requireTensor(op, t, what);
  requireDType(op, t, 'ring64');
  if (t.rank !== 1) throw new RangeError(`${op}: ${what} must be a vector [n], got shape [${t.shape.join(', ')}]`);
}

// The generic rule in run_kernel.ts runs a kernel on the JS thread when it has few elements; a
// DCF element costs about 6 * bits AES blocks (keygen) or 2 * bits (eval), so the same count is
// far more work. Below this many element-levels of evaluation (5 ns each on Zen 5 since the keys'
// tiles; keygen counts twice) the hop to the thread pool and back, which a batch-1 query pays
// between two openings, costs about what the work does: a 128-element ReLU gate (8064) runs here.
const SYNC_ELEMENT_LEVELS = 16384;

async function runDcf(kernel: K.KernelName, inputs: readonly RingTensor[], attrs: Attrs, work: number): Promise<RingTensor[]> {
  let b: Backend = inputs[0].backend;
  for (const t of inputs)
    if (t.backend.name !== b.name) throw new Error(`${kernel}: inputs live on different backends (${b.name} and ${t.backend.name})`);
  const ctx = contextBackend();
  if (ctx && ctx.name === b.name) b = ctx;
  const handles = inputs.map((t) => t.handle);
  const t0 = tracing ? traceNow() : 0;
  const small = work <= SYNC_ELEMENT_LEVELS;
  const outs = small ? b.native.runSync(kernel, handles, attrs) : await b.native.run(kernel, handles, attrs);
  if (tracing) traceKernel(kernel, inputs, small, t0);
  return outs.map((o) => new RingTensor(o, b));
}

/** Keygen options checked, as the kernels' attributes (first as a bigint, impl defaulted). */
function keygenAttrs(op: string, opts: DcfKeygenOptions): Attrs & { bits: number } {
  const { bits, seed, nonce } = opts ?? ({} as DcfKeygenOptions);
  requireInt(op, bits, 'bits', 1, DCF_MAX_BITS);
  if (!(seed instanceof Uint8Array) || seed.length !== 16) throw new TypeError(`${op}: seed must be a Uint8Array of 16 bytes`);
  if (typeof nonce !== 'bigint' || nonce < 0n || nonce >= 1n << 64n) throw new RangeError(`${op}: nonce must be a bigint in [0, 2^64)`);
  const first = BigInt(requireInt(op, opts.first ?? 0, 'first', 0, Number.MAX_SAFE_INTEGER));
  return { bits, seed, nonce, first, impl: opts.impl ?? 'auto' };
}

/**
 * The keygen kernels' common path: alpha and the other inputs are [n] ring64 vectors (each named
 * for its messages), the options are checked, and the kernel runs with them.
 */
async function keygen(op: string, kernel: K.KernelName, alpha: RingTensor, others: [RingTensor, string][], opts: DcfKeygenOptions): Promise<[RingTensor, RingTensor]> {
  requireVector(op, alpha, 'alpha');
  for (const [t, name] of others) {
    requireVector(op, t, name);
    if (t.shape[0] !== alpha.shape[0]) throw new RangeError(`${op}: alpha [${alpha.shape[0]}] and ${name} [${t.shape[0]}] must have one shape`);
  }
  const attrs = keygenAttrs(op, opts);
  const [k0, k1] = await runDcf(kernel, [alpha, ...others.map(([t]) => t)], attrs, 2 * alpha.size * attrs.bits);
  return [k0, k1];
}

/**
 * The evaluation kernels' common path: key [n, words(bits)] ring64 and public x [n] ring64, the
 * options checked; `formula` names the key width in messages. `work` scales the element-levels.
 */
async function evaluate(op: string, kernel: K.KernelName, key: RingTensor, x: RingTensor, opts: DcfEvalOptions, words: (bits: number) => number, formula: string, work = 1, extra: Attrs = {}): Promise<RingTensor[]> {
  requireTensor(op, key, 'key');
  requireDType(op, key, 'ring64');
  requireVector(op, x, 'x');
  const { bits, party } = opts ?? ({} as DcfEvalOptions);
  const K = words(requireInt(op, bits, 'bits', 1, DCF_MAX_BITS));
  if (party !== 0 && party !== 1) throw new RangeError(`${op}: party must be 0 or 1, got ${String(party)}`);
  if (key.rank !== 2 || key.shape[0] !== x.shape[0] || key.shape[1] !== K)
    throw new RangeError(`${op}: key must be [${x.shape[0]}, ${K}] (n, ${formula}) for x [${x.shape[0]}] and bits = ${bits}, got [${key.shape.join(', ')}]`);
  return runDcf(kernel, [key, x], { ...extra, bits, party, impl: opts.impl ?? 'auto' }, x.size * bits * work);
}

/**
 * The dealer's side: DCF keys for alpha [n] and beta [n] (ring64). Returns [key0, key1], each
 * [n, dcfKeyWords(bits)] ring64, key0 for server0 and key1 for server1.
 */
export function dcfKeygen(alpha: RingTensor, beta: RingTensor, opts: DcfKeygenOptions): Promise<[RingTensor, RingTensor]> {
  return keygen('dcfKeygen', K.DcfKeygen, alpha, [[beta, 'beta']], opts);
}

/** One server's share y [n] of beta * [x < alpha] from its keys [n, dcfKeyWords(bits)] and public x [n]. */
export async function dcfEval(key: RingTensor, x: RingTensor, opts: DcfEvalOptions): Promise<RingTensor> {
  const [y] = await evaluate('dcfEval', K.DcfEval, key, x, opts, (b) => dcfKeyWords(b), '3 * bits + 4');
  return y;
}

/**
 * Keys of a two-payload DCF: one tree gives shares of beta0 [x < alpha] and beta1 [x < alpha]
 * (native/src/fss/dcf.h). Returns [key0, key1], each [n, dcfKeyWords(bits, 2)].
 */
export function dcfKeygen2(alpha: RingTensor, beta0: RingTensor, beta1: RingTensor, opts: DcfKeygenOptions): Promise<[RingTensor, RingTensor]> {
  return keygen('dcfKeygen2', K.DcfKeygen2, alpha, [[beta0, 'beta0'], [beta1, 'beta1']], opts);
}

/**
 * Keys of a DCF with P payloads on one tree: shares of beta[e, p] [x_e < alpha_e] for every p
 * (native/src/fss/dcf.h, "Many payloads"). alpha [n], beta [n, P] with 1 <= P <= DCF_MAX_PAYLOADS.
 * Returns [key0, key1], each [n, dcfKeyWords(bits, P)]; at P = 2 they equal dcfKeygen2's keys.
 */
export async function dcfKeygenMany(alpha: RingTensor, beta: RingTensor, opts: DcfKeygenOptions): Promise<[RingTensor, RingTensor]> {
  const op = 'dcfKeygenMany';
  requireVector(op, alpha, 'alpha');
  requireTensor(op, beta, 'beta');
  requireDType(op, beta, 'ring64');
  if (beta.rank !== 2 || beta.shape[0] !== alpha.shape[0] || beta.shape[1] < 1 || beta.shape[1] > DCF_MAX_PAYLOADS)
    throw new RangeError(`${op}: beta must be [${alpha.shape[0]}, P] (one row of 1 to ${DCF_MAX_PAYLOADS} payloads per element of alpha), got [${beta.shape.join(', ')}]`);
  const attrs = keygenAttrs(op, opts);
  // Work in element-levels of a two-payload walk: one seed block plus P / 2 value blocks per level, both parties.
  const [k0, k1] = await runDcf(K.DcfKeygenMany, [alpha, beta], attrs, alpha.size * attrs.bits * (1 + beta.shape[1] / 2));
  return [k0, k1];
}

/** One server's shares y [n, P] of a dcfKeygenMany key's P payloads at public x [n]. */
export async function dcfEvalMany(key: RingTensor, x: RingTensor, opts: DcfEvalOptions & { payloads: number }): Promise<RingTensor> {
  const payloads = requireInt('dcfEvalMany', opts?.payloads, 'payloads', 1, DCF_MAX_PAYLOADS);
  const [y] = await evaluate('dcfEvalMany', K.DcfEvalMany, key, x, opts, (b) => dcfKeyWords(b, payloads), '(2 + P) * bits + 3 + P', (1 + payloads / 2) / 2, { payloads });
  return y;
}

/** One server's shares [y0, y1] of both payloads of a dcfKeygen2 key at public x. */
export async function dcfEval2(key: RingTensor, x: RingTensor, opts: DcfEvalOptions): Promise<[RingTensor, RingTensor]> {
  const [y0, y1] = await evaluate('dcfEval2', K.DcfEval2, key, x, opts, (b) => dcfKeyWords(b, 2), '4 * bits + 5');
  return [y0, y1];
}

/**
 * uint64 words per one-bit DCF key and element: 2 * max(bits - 7, 0) + 5 (936 bytes for bits = 63;
 * the last 7 levels end early in a 128-bit leaf block, native/src/fss/dcf_bit.h).
 */
export function dcfBitKeyWords(bits: number): number {
  return 2 * Math.max(requireInt('dcfBitKeyWords', bits, 'bits', 1, DCF_MAX_BITS) - 7, 0) + 5;
}

/**
 * Keys of the one-bit DCF (native/src/fss/dcf_bit.h): dcfBitEval(key0, x, party 0) xor
 * dcfBitEval(key1, x, party 1) = [x mod 2^bits < alpha mod 2^bits] xor offset, per element.
 * `offset` [n] ring64 holds 0 or 1 per element. Returns [key0, key1], each [n, dcfBitKeyWords(bits)].
 */
export function dcfBitKeygen(alpha: RingTensor, offset: RingTensor, opts: DcfKeygenOptions): Promise<[RingTensor, RingTensor]> {
  return keygen('dcfBitKeygen', K.DcfBitKeygen, alpha, [[offset, 'offset']], opts);
}

/** One server's share y [n] (dtype bit) of [x < alpha] xor offset from its one-bit DCF keys and public x [n]. */
export async function dcfBitEval(key: RingTensor, x: RingTensor, opts: DcfEvalOptions): Promise<RingTensor> {
  // One hash per level against the 64-bit DCF's two: half the work per element-level.
  const [y] = await evaluate('dcfBitEval', K.DcfBitEval, key, x, opts, dcfBitKeyWords, '2 * max(bits - 7, 0) + 5', 0.5);
  return y;
}

/**
 * uint64 words per DPF key and element: 2 * bits + 3 (1048 bytes for bits = 64, 792 for 48:
 * native/src/fss/dpf.h).
 */
export function dpfKeyWords(bits: number): number {
  return 2 * requireInt('dpfKeyWords', bits, 'bits', 1, DCF_MAX_BITS) + 3;
}

/**
 * Keys of the distributed point function (native/src/fss/dpf.h): dpfEval(key0, x, party 0) +
 * dpfEval(key1, x, party 1) = beta if x mod 2^bits = alpha mod 2^bits, else 0 (mod 2^64), per
 * element. Returns [key0, key1], each [n, dpfKeyWords(bits)].
 */
export function dpfKeygen(alpha: RingTensor, beta: RingTensor, opts: DcfKeygenOptions): Promise<[RingTensor, RingTensor]> {
  return keygen('dpfKeygen', K.DpfKeygen, alpha, [[beta, 'beta']], opts);
}

/** One server's share y [n] of beta [x = alpha] from its DPF keys [n, dpfKeyWords(bits)] and public x [n]. */
export async function dpfEval(key: RingTensor, x: RingTensor, opts: DcfEvalOptions): Promise<RingTensor> {
  // One hash per level against the 64-bit DCF's two.
  const [y] = await evaluate('dpfEval', K.DpfEval, key, x, opts, dpfKeyWords, '2 * bits + 3', 0.5);
  return y;
}

/** Domain bits of dpfEvalAll: 2^20 values per row at most (native kDpfAllMaxBits). */
export const DPF_ALL_MAX_BITS = 20;

/**
 * One server's shares y [n, 2^bits] of its DPF keys [n, dpfKeyWords(bits)] at every point of the
 * domain: y[e, x] = dpfEval(key e, x), so y0 + y1 is beta's one-hot row at alpha (a one-hot row
 * dealt as one key: lib/protocol/shared_one_hot.ts). The tree expanded level by level, about
 * 2^(bits+1) hashes per key.
 */
export async function dpfEvalAll(key: RingTensor, opts: DcfEvalOptions): Promise<RingTensor> {
  const op = 'dpfEvalAll';
  requireTensor(op, key, 'key');
  requireDType(op, key, 'ring64');
  const { bits, party } = opts ?? ({} as DcfEvalOptions);
  const words = dpfKeyWords(requireInt(op, bits, 'bits', 1, DPF_ALL_MAX_BITS));
  if (party !== 0 && party !== 1) throw new RangeError(`${op}: party must be 0 or 1, got ${String(party)}`);
  if (key.rank !== 2 || key.shape[1] !== words) throw new RangeError(`${op}: key must be [n, ${words}] (n, 2 * bits + 3) for bits = ${bits}, got [${key.shape.join(', ')}]`);
  const [y] = await runDcf(K.DpfEvalAll, [key], { bits, party, impl: opts.impl ?? 'auto' }, key.shape[0] * 2 ** (bits + 1));
  return y;
}

/** The relu gate's extra inputs of fssSignFinish: this party's shares of the second payload, r and r b. */
export interface SignFinishRelu {
  e: RingTensor;
  r: RingTensor;
  rb: RingTensor;
  /** [relu; d] [2n] instead of relu [n]. */
  bit?: boolean;
}

/**
 * The one-round FSS sign gate's local steps after its DCF evaluation (lib/protocol/fss/drelu.ts,
 * steps 5-7) in one kernel: from the opened x^, this party's share c of the first payload and
 * its share of b = MSB(r), its share of DReLU(a); with `relu`, of relu(a) (or [relu; DReLU]).
 * Every input is a ring64 vector [n]. `signBit`: the gate's sign bit, n - 1 for width n (Party.fssBits).
 */
export async function fssSignFinish(xHat: RingTensor, c: RingTensor, b: RingTensor, party: 0 | 1, relu?: SignFinishRelu, signBit = 63): Promise<RingTensor> {
  const inputs: [RingTensor, string][] = [[xHat, 'xhat'], [c, 'c'], [b, 'b'], ...(relu ? ([[relu.e, 'e'], [relu.r, 'r'], [relu.rb, 'rb']] as [RingTensor, string][]) : [])];
  for (const [t, name] of inputs) {
    requireVector('fssSignFinish', t, name);
    if (t.shape[0] !== xHat.shape[0]) throw new RangeError(`fssSignFinish: ${name} [${t.shape[0]}] and xhat [${xHat.shape[0]}] must have one shape`);
  }
  if (party !== 0 && party !== 1) throw new RangeError(`fssSignFinish: party must be 0 or 1, got ${String(party)}`);
  requireInt('fssSignFinish', signBit, 'signBit', 1, 63);
  return runKernel1(K.FssSignFinish, inputs.map(([t]) => t), { party, relu: relu ? 1 : 0, bit: relu?.bit ? 1 : 0, signBit });
}
