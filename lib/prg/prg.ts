// The PRG: AES-128-CTR keyed by a 128-bit seed from the OS CSPRNG. Expanding the same seed with
// the same nonce gives the same tensor on every party and every backend (the stream layout is
// documented in native/src/prg/prg_kernels.cc), which is what seed-compressed sharing builds on.
import { type Backend, getBackend } from '../backend/backends';
import * as K from '../ops/kernel_names';
import { runKernel1 } from '../ops/run_kernel';
import { requireInt } from '../ops/validate';
import { fieldDType } from '../tensor/dtype';
import type { RingTensor } from '../tensor/ring_tensor';
import { assertShape } from '../tensor/shape';

export const SEED_BYTES = 16;

/** A fresh 128-bit seed from the operating system's CSPRNG (getrandom / /dev/urandom). */
export function randomSeed(backend: Backend = getBackend()): Uint8Array {
  return backend.native.randomBytes(SEED_BYTES);
}

export interface PrgOptions {
  /** Separates independent streams under one seed (64 bits). */
  nonce?: bigint;
  /** Index of the first element in the logical stream, for generating slices independently. */
  offset?: number;
  /** 'auto' (AES-NI when the CPU has it) or a forced implementation, for tests. */
  impl?: 'auto' | 'aesni' | 'portable';
  backend?: Backend;
}

function attrs(op: string, seed: Uint8Array, shape: readonly number[], o: PrgOptions) {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES)
    throw new TypeError(`${op}: seed must be a Uint8Array of ${SEED_BYTES} bytes`);
  const nonce = o.nonce ?? 0n;
  if (typeof nonce !== 'bigint' || nonce < 0n || nonce >= 1n << 64n) throw new RangeError(`${op}: nonce must be a bigint in [0, 2^64)`);
  return {
    seed,
    shape: assertShape(shape),
    nonce,
    offset: requireInt(op, o.offset ?? 0, 'offset', 0, 2 ** 52),
    impl: o.impl ?? 'auto',
  };
}

/** Uniform elements of Z_2^64. */
export async function prgRing(seed: Uint8Array, shape: readonly number[], opts: PrgOptions = {}): Promise<RingTensor> {
  return runKernel1(K.PrgRing, [], attrs('prgRing', seed, shape, opts), opts.backend ?? getBackend());
}

/** Uniform bits. */
export async function prgBits(seed: Uint8Array, shape: readonly number[], opts: PrgOptions = {}): Promise<RingTensor> {
  return runKernel1(K.PrgBits, [], attrs('prgBits', seed, shape, opts), opts.backend ?? getBackend());
}

/** Uniform elements of Z_p (or of Z_p* with `nonzero`) by rejection sampling (no modulo bias). */
export async function prgField(seed: Uint8Array, modulus: number, shape: readonly number[], opts: PrgOptions & { nonzero?: boolean } = {}): Promise<RingTensor> {
  fieldDType(modulus);
  return runKernel1(K.PrgField, [], { ...attrs('prgField', seed, shape, opts), modulus, nonzero: opts.nonzero }, opts.backend ?? getBackend());
}

/**
 * Uniform random permutations of the last axis (length <= 256), one per row: out[..., i] is the
 * position element i moves to. `offset` counts rows.
 */
export async function prgPermutation(seed: Uint8Array, shape: readonly number[], opts: PrgOptions = {}): Promise<RingTensor> {
  return runKernel1(K.PrgPermutation, [], attrs('prgPermutation', seed, shape, opts), opts.backend ?? getBackend());
}

/** Uniform ring elements under a fresh seed: one-off randomness that nobody needs to reproduce. */
export async function uniformRing(shape: readonly number[], backend?: Backend): Promise<RingTensor> {
  return prgRing(randomSeed(backend), shape, { backend });
}

/**
 * Raw AES-128-CTR keystream bytes [byteOffset, byteOffset + n) for key and initial counter block
 * iv (NIST SP 800-38A counter semantics). Exposed for known-answer tests and benchmarks.
 */
export function aes128CtrKeystream(
  key: Uint8Array,
  iv: Uint8Array,
  byteOffset: number,
  n: number,
  impl: 'auto' | 'aesni' | 'portable' = 'auto',
  backend: Backend = getBackend(),
): Uint8Array {
  return backend.native.aes128Ctr(key, iv, byteOffset, n, impl);
}
