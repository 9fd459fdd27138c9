// SecureNN's private comparison (Wagh, Gupta, Chandran: SecureNN, PoPETs 2019, Algorithm 3,
// "PrivateCompare"), over Z_p with p = 67 and bit shares, vectorised over n comparisons.
import { add, anyZeroLastAxis, privateCompareMasked, privateCompareReveal, privateCompareShares, sub } from '../../ops';
import { prgField, prgPermutation } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { type OpCtx, type Party, SERVER2, tag } from '../party';
import { defineGuardedSwitches } from '../test_switches';

export const PRIME = 67;
export const FIELD = `z${PRIME}` as const;
const BITS = 64;

/**
 * Test controls for the two hiding steps, read as the defaults of privateCompare's opts so that
 * an attack test can run whole protocols (ReLU, max pooling) with a step off as its control.
 * Nothing in lib/ changes them, and outside the tests setting one false throws (test_switches.ts).
 */
export const PRIVATE_COMPARE_STEPS = defineGuardedSwitches({}, 'PRIVATE_COMPARE_STEPS', { permute: true, rerandomise: true });

/**
 * Whether to take the fused kernels (native/src/kernels/securenn_fused.cc): on the CPU backend.
 * The CUDA module keeps the separate PRG and PrivateCompareShares kernels it has on the device;
 * both paths give the same messages bit for bit, so a CPU server and a CUDA server still agree.
 */
const fused = (t: RingTensor) => t.backend.name === 'cpu';

async function using<T>(ts: (RingTensor | undefined)[], f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } finally {
    for (const t of ts) t?.dispose();
  }
}

/**
 * SecureNN Algorithm 3 (PrivateCompare). server0 and server1 hold shares over Z_p of the 64 bits
 * of n secret values x (xBits: [n, 64], least significant bit first), n public values r, and n
 * common random bits beta; server2 learns only beta' = beta xor (x > r), per element.
 * 1. t = r + 1; per bit position i (the paper's sums over k > i run over more significant bits):
 *    beta = 0:            w_i = x_i + j r_i - 2 r_i x_i,   c_i = j r_i - x_i + j + sum_{k>i} w_k
 *    beta = 1, r < 2^64-1: w_i = x_i + j t_i - 2 t_i x_i,  c_i = -j t_i + x_i + j + sum_{k>i} w_k
 *    beta = 1, r = 2^64-1: c_i = (1-j)(u_i + 1) - j u_i for i > 0, c_0 = (-1)^j u_0
 *    (j is the server's index; the sum of both servers' c_i is 0 exactly at the comparison's
 *    deciding bit).
 * 2. d_i = s_i c_i with s_i uniform in Z_p* (blinding: every nonzero sum looks uniform), then the
 *    positions are shuffled by a uniform permutation pi (so server2 cannot tell where a zero was;
 *    tf-encrypted left this step out). s, u, pi and beta come from server0 and server1's common seed.
 * 3. Re-randomisation: server0 sends d + z and server1 sends d - z, for z uniform in Z_p per
 *    element and position, from their common seed. Without it server2 divides the two vectors
 *    position by position (s cancels), gets c_0 / c_1, and, knowing the bit shares of x it dealt,
 *    searches out r bit by bit: every comparison input leaks. With it each vector server2 receives
 *    is uniform on its own, and the pair is a uniform sharing of d (see docs/securenn.md, "What
 *    each server receives").
 * 4. server2 adds the two vectors and outputs beta' = 1 iff some d_i = 0.
 * Returns beta' (bits, [n]) on server2 and null elsewhere.
 *
 * opts.permute = false and opts.rerandomise = false switch steps 2 (the permutation) and 3 off
 * (defaults: PRIVATE_COMPARE_STEPS); they exist only so the tests can show what each step hides.
 */
export async function privateCompare(p: Party, op: OpCtx, step: string, nonce: bigint, xBits: RingTensor | null, r: RingTensor | null, beta: RingTensor | null, n: number, opts: { permute?: boolean; rerandomise?: boolean } = {}): Promise<RingTensor | null> {
  const t = tag(op, step);
  const permute = opts.permute ?? PRIVATE_COMPARE_STEPS.permute, rerandomise = opts.rerandomise ?? PRIVATE_COMPARE_STEPS.rerandomise;
  if (p.role === 2) {
    const [d0, d1] = await Promise.all([p.recvTensor('server0', t, [n, BITS]), p.recvTensor('server1', t, [n, BITS])]);
    if (fused(d0)) return using([d0, d1], () => privateCompareReveal(d0, d1));
    const d = await using([d0, d1], () => add(d0, d1));
    return using([d], () => anyZeroLastAxis(d));
  }
  if (!p.isCompute) return null;
  if (!xBits || !r || !beta || !p.crypto) throw new Error(`${op.name}: ${p.name} lacks its inputs to PrivateCompare`);
  const seed = p.crypto.pairSeed(p);
  if (fused(xBits)) {
    // Steps 1-3 in one native pass that draws s, u, pi and z itself (same streams as below).
    const sent = await privateCompareMasked(xBits, r, beta, { seed, nonce, party: p.role as 0 | 1, permute, rerandomise });
    try {
      await p.sendTensor(SERVER2, t, sent);
    } finally {
      sent.dispose();
    }
    return null;
  }
  const shape = [n, BITS];
  // u only enters when beta = 1 and r = 2^64 - 1 (case 3); skip expanding it when no element
  // needs it (both servers see the same public r and beta, so they agree).
  const rv = r.toBigUint64Array(), bv = beta.toUint8Array();
  const needU = rv.some((v, i) => v === 0xffffffffffffffffn && bv[i] === 1);
  const [s, uOrNull, pi, z] = await Promise.all([
    prgField(seed, PRIME, shape, { nonce, nonzero: true }),
    needU ? prgField(seed, PRIME, shape, { nonce: nonce + 1n, nonzero: true }) : null,
    prgPermutation(seed, shape, { nonce: nonce + 2n }),
    !rerandomise ? null : prgField(seed, PRIME, shape, { nonce: nonce + 3n }),
  ]);
  const u = uOrNull ?? s; // unused by the kernel when no element takes case 3
  // Steps 1 and 2 in one native pass (native/src/kernels/securenn.cc).
  const perm = !permute ? RingTensor.fromBigUint64Array(BigUint64Array.from({ length: n * BITS }, (_, i) => BigInt(i % BITS)), shape) : pi;
  const shuffled = await privateCompareShares(xBits, r, beta, s, u, perm, p.role as 0 | 1);
  for (const x of [s, uOrNull, pi, perm]) x?.dispose();
  // Step 3: server0 adds z, server1 subtracts it (a fresh sharing of zero per element and position).
  const sent = z ? await (p.role === 0 ? add(shuffled, z) : sub(shuffled, z)) : shuffled;
  if (z) {
    z.dispose();
    shuffled.dispose();
  }
  try {
    await p.sendTensor(SERVER2, t, sent);
  } finally {
    sent.dispose();
  }
  return null;
}
