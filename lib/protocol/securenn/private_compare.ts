// SecureNN's private comparison (Wagh, Gupta, Chandran: SecureNN, PoPETs 2019, Algorithm 3,
// "PrivateCompare"), over Z_p with p = 67 and bit shares, vectorised over n comparisons.
import { add, addScalar, bitDecompose, cast, mul, mulScalar, neg, permuteLastAxis, prefixSumReverseExclusive, sub } from '../../ops';
import { prgField, prgPermutation } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { type OpCtx, type Party, SERVER2, tag } from '../party';

export const PRIME = 67;
export const FIELD = `z${PRIME}` as const;
const BITS = 64;
const MAX = (1n << 64n) - 1n;

async function using<T>(ts: (RingTensor | undefined)[], f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } finally {
    for (const t of ts) t?.dispose();
  }
}

/** A public ring tensor's 64 bits (least significant first) as z67 elements: [..., 64]. */
async function fieldBits(r: RingTensor): Promise<RingTensor> {
  const bits = await bitDecompose(r);
  return using([bits], () => cast(bits, FIELD));
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
 * 3. Each server sends its d to server2, which adds them and outputs beta' = 1 iff some d_i = 0.
 * Returns beta' (bits, [n]) on server2 and null elsewhere.
 */
export async function privateCompare(p: Party, op: OpCtx, step: string, nonce: bigint, xBits: RingTensor | null, r: RingTensor | null, beta: RingTensor | null, n: number, opts: { permute?: boolean } = {}): Promise<RingTensor | null> {
  const t = tag(op, step);
  if (p.role === 2) {
    const [d0, d1] = await Promise.all([p.recvTensor('server0', t, [n, BITS]), p.recvTensor('server1', t, [n, BITS])]);
    const d = await using([d0, d1], () => add(d0, d1));
    const bytes = d.toBytes();
    d.dispose();
    const out = new Uint8Array(n);
    for (let e = 0; e < n; e++) for (let i = 0; i < BITS; i++) if (bytes[e * BITS + i] === 0) { out[e] = 1; break; }
    return RingTensor.fromUint8Array(out, [n], 'bit');
  }
  if (!p.isCompute) return null;
  if (!xBits || !r || !beta || !p.crypto) throw new Error(`${op.name}: ${p.name} lacks its inputs to PrivateCompare`);
  const j = BigInt(p.role);
  const seed = p.crypto.pairSeed(p);
  const shape = [n, BITS];
  const [s, u, pi] = await Promise.all([
    prgField(seed, PRIME, shape, { nonce, nonzero: true }),
    prgField(seed, PRIME, shape, { nonce: nonce + 1n, nonzero: true }),
    prgPermutation(seed, shape, { nonce: nonce + 2n }),
  ]);
  // isMax marks r = 2^64 - 1 (case 3); beta and isMax broadcast over the bit axis.
  const rv = r.toBigUint64Array();
  const isMax = RingTensor.fromUint8Array(Uint8Array.from(rv, (v) => (v === MAX ? 1 : 0)), [n, 1], FIELD);
  const betaF = await (async () => {
    const b = await cast(beta, FIELD);
    return using([b], async () => RingTensor.fromBytes(b.toBytes(), [n, 1], FIELD));
  })();
  const tr = await addScalar(r, 1n);
  const [rb, tb] = await Promise.all([fieldBits(r), using([tr], () => fieldBits(tr))]);

  // w = x + j b - 2 b x and the sums of w over more significant bits, for b = r bits or t bits.
  const branch = async (b: RingTensor, sign: 1n | -1n): Promise<RingTensor> => {
    const bx = await mul(b, xBits);
    const jb = await mulScalar(b, j);
    const xjb = await add(xBits, jb);
    const bx2 = await mulScalar(bx, 2n);
    const w = await sub(xjb, bx2);
    const sumW = await prefixSumReverseExclusive(w);
    // sign = +1: j b - x + j + sum;  sign = -1: -j b + x + j + sum
    const core = sign === 1n ? await sub(jb, xBits) : await sub(xBits, jb);
    const withJ = await addScalar(core, j);
    const c = await add(withJ, sumW);
    for (const x of [bx, jb, xjb, bx2, w, sumW, core, withJ]) x.dispose();
    return c;
  };
  const [c0, c1] = await Promise.all([branch(rb, 1n), branch(tb, -1n)]);
  // Case 3: server0 u + [i > 0], server1 -u.
  const notLowest = RingTensor.fromUint8Array(Uint8Array.from({ length: BITS }, (_, i) => (i > 0 ? 1 : 0)), [BITS], FIELD);
  const c2 = await using([notLowest], () => (p.role === 0 ? add(u, notLowest) : neg(u)));
  // c = c0 + beta (c1 - c0) + beta isMax (c2 - c1)
  const d10 = await sub(c1, c0);
  const d21 = await sub(c2, c1);
  const bm = await mul(betaF, isMax);
  const [t1, t2] = await Promise.all([mul(betaF, d10), mul(bm, d21)]);
  const c0t1 = await add(c0, t1);
  const c = await using([c0t1], () => add(c0t1, t2));
  const blinded = await mul(s, c);
  // opts.permute = false exists only so the tests can show what the permutation hides.
  const shuffled = opts.permute === false ? await addScalar(blinded, 0n) : await permuteLastAxis(blinded, pi);
  for (const x of [s, u, pi, isMax, betaF, rb, tb, c0, c1, c2, d10, d21, bm, t1, t2, c, blinded]) x.dispose();
  try {
    await p.sendTensor(SERVER2, t, shuffled);
  } finally {
    shuffled.dispose();
  }
  return null;
}
