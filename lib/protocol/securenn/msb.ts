// SecureNN (Wagh, Gupta, Chandran, ePrint 2018/442): share conversion to the odd ring, MSB and
// DReLU, vectorised over the n elements of flat [n] ring64 shares. This is the paper's DReLU
// (securennDrelu: 'paper'); the default takes one PrivateCompare (drelu_one_compare.ts).
// server0 and server1 hold shares; server2 deals correlated randomness and learns only blinded,
// permuted comparison data.
import { add, addScalar, bitDecompose, bitExtract, bitsMinusPrgField, cast, msbUnmask, mul, mulScalar, oddAdd, oddSub, shareConvertFinish, sub, wrapBit } from '../../ops';
import { prgBits, prgField, prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { DEALER_STEPS, deal, ringPrg } from '../dealer';
import { type OpCtx, type Party, SERVER1, SERVER2, tag } from '../party';
import { bilinear, mask } from '../pond/arith';
import { PRIME, privateCompare } from './private_compare';

const FIELD = `z${PRIME}` as const;

/** Disposes the temporaries `ts` and returns `v`. */
export async function done<T>(ts: (RingTensor | null | undefined)[], v: T): Promise<T> {
  for (const t of ts) t?.dispose();
  return v;
}

export const fieldPrg = (shape: readonly number[]) => (s: Uint8Array, n: bigint) => prgField(s, PRIME, shape, { nonce: n });

/**
 * server2's half of deal() for the bits of x ([n] ring64) over Z_p ([n, 64]): the same message
 * (tag, slot, value bits(x) - PRG(s02)) as deal(p, op, step, slot, bits(x), fieldPrg, sub). On the
 * CPU one native pass (bitsMinusPrgField) replaces BitDecompose, Cast, PrgField and Sub.
 */
export async function dealBits(p: Party, op: OpCtx, step: string, slot: number, x: RingTensor, n: number): Promise<void> {
  // The fused kernel subtracts server0's stream itself: under the test control that zeroes it
  // (DEALER_STEPS.maskDeal), the separate steps, so that both sides agree.
  if (!onCpu(x) || !DEALER_STEPS.maskDeal) {
    const bits = await bitDecompose(x);
    const fieldBits = await cast(bits, FIELD);
    await deal(p, op, step, slot, fieldBits, fieldPrg([n, 64]), sub, [n, 64]);
    await done([bits, fieldBits], null);
    return;
  }
  const s1 = await bitsMinusPrgField(x, p.crypto!.dealerSeed(p)!, PRIME, nonceFor(op.id, slot));
  try {
    await p.sendTensor(SERVER1, tag(op, step, String(slot)), s1);
  } finally {
    s1.dispose();
  }
}

/**
 * Whether to take the fused [n] kernels (ShareConvertFinish, MsbUnmask): on the CPU backend; the
 * CUDA module keeps the separate kernels it runs on the device. Same values either way.
 */
const onCpu = (t: RingTensor) => t.backend.name === 'cpu';

/** Public 0/1 bits as a ring64 tensor. */
async function bitsAsRing(b: RingTensor): Promise<RingTensor> {
  return cast(b, 'ring64');
}

/**
 * SecureNN Algorithm 4 (ShareConvert): shares of a in Z_2^64 (a != 2^64 - 1) to shares of a in
 * the odd ring Z_(2^64 - 1).
 * 1. server0/server1 share a random r (r = r0 + r1, alpha = wrap(r0, r1)) and a bit eta''.
 * 2. Each sends a~_j = a_j + r_j to server2, keeping beta_j = wrap(a_j, r_j).
 * 3. server2 reconstructs x = a + r, deals bit shares of x over Z_p and shares of
 *    delta = wrap(a~_0, a~_1) over Z_(2^64-1).
 * 4. PrivateCompare(x, r - 1, eta'') gives server2 eta' = eta'' xor (x > r - 1), which it shares
 *    over Z_(2^64-1); the servers unmask eta = eta' xor eta''.
 * 5. theta_j = beta_j + (1 - j)(-alpha - 1) + delta_j + eta_j counts the wraps, and
 *    y_j = a_j - theta_j (+ a fresh sharing of zero) over Z_(2^64-1).
 */
export async function shareConvert(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  const shape = [n];
  const t = tag(op, 'sc.masked');
  if (p.role === 2) {
    const [m0, m1] = await Promise.all([p.recvTensor('server0', t, shape), p.recvTensor('server1', t, shape)]);
    const x = await add(m0, m1);
    const delta = await wrapBit(m0, m1); // x < m0: the sum wrapped
    await Promise.all([
      dealBits(p, op, 'sc.deal', 5, x, n),
      deal(p, op, 'sc.deal', 6, delta, ringPrg(shape), oddSub, shape),
    ]);
    const etaP = await privateCompare(p, op, 'sc.compare', nonceFor(op.id, 8), null, null, null, n);
    const etaPRing = await bitsAsRing(etaP!);
    await deal(p, op, 'sc.eta', 7, etaPRing, ringPrg(shape), oddSub, shape);
    return done([m0, m1, x, delta, etaP, etaPRing], null);
  }
  if (!p.isCompute || !a) return null;
  const j = p.role as 0 | 1;
  const pair = p.crypto!.pairSeed(p);
  const [etaPP, r, r0] = await Promise.all([
    prgBits(pair, shape, { nonce: nonceFor(op.id, 1) }),
    prgRing(pair, shape, { nonce: nonceFor(op.id, 2) }),
    prgRing(pair, shape, { nonce: nonceFor(op.id, 3) }),
  ]);
  const r1 = await sub(r, r0);
  const rj = j === 0 ? r0 : r1;
  const alpha = await wrapBit(r0, r1); // r < r0
  const masked = await add(a, rj);
  const beta = await wrapBit(a, rj); // masked < a
  await p.sendTensor(SERVER2, t, masked);
  const [xBits, delta] = await Promise.all([
    deal(p, op, 'sc.deal', 5, null, fieldPrg([n, 64]), sub, [n, 64]),
    deal(p, op, 'sc.deal', 6, null, ringPrg(shape), oddSub, shape),
  ]);
  const rMinus1 = await addScalar(r, -1n);
  await privateCompare(p, op, 'sc.compare', nonceFor(op.id, 8), xBits, rMinus1, etaPP, n);
  const etaP = (await deal(p, op, 'sc.eta', 7, null, ringPrg(shape), oddSub, shape))!;
  // A fresh sharing of zero (u, -u) re-randomises the output shares.
  const u = await prgRing(pair, shape, { nonce: nonceFor(op.id, 4) });
  if (onCpu(a)) {
    // The steps below in one native pass (native/src/kernels/securenn_fused.cc).
    const y = await shareConvertFinish(a, etaP, etaPP, beta, delta!, alpha, u, j);
    return done([etaPP, r, r0, r1, alpha, masked, beta, xBits, delta, rMinus1, etaP, u], y);
  }
  // eta_j = eta'_j + eta'' ((1 - j) - 2 eta'_j) over the odd ring (eta'' is a public 0/1).
  const etaPPr = await bitsAsRing(etaPP);
  const twoEta = await oddAdd(etaP, etaP);
  const oneMinusJ = RingTensor.fromBigInts([BigInt(1 - j)], [1]);
  const flip = await oddSub(oneMinusJ, twoEta);
  const masked2 = await mul(etaPPr, flip); // 0/1 multiplier: exact in any ring
  const eta = await oddAdd(etaP, masked2);
  // theta_j = beta_j + delta_j + eta_j - (1 - j)(alpha + 1)
  let theta = await oddAdd(await oddAdd(beta, delta!), eta);
  if (j === 0) theta = await oddSub(theta, await addScalar(alpha, 1n));
  const y0 = await oddSub(a, theta);
  const y = j === 0 ? await oddAdd(y0, u) : await oddSub(y0, u);
  return done([etaPP, r, r0, r1, alpha, masked, beta, xBits, delta, rMinus1, etaP, etaPPr, twoEta, oneMinusJ, flip, masked2, eta, theta, u, y0], y);
}

/**
 * SecureNN Algorithm 5 (ComputeMSB): from shares of y over Z_(2^64-1), shares of MSB(y) over
 * Z_2^64, as the LSB of 2y (doubling wraps around the odd modulus exactly when MSB(y) = 1).
 * 1. server2 draws x over Z_(2^64-1) and deals its shares, its bits over Z_p and its LSB over Z_2^64.
 * 2. The servers open r = 2y + x over Z_(2^64-1).
 * 3. PrivateCompare(x, r, beta) gives server2 beta' = beta xor (x > r); it deals beta' over Z_2^64.
 * 4. gamma = beta' xor beta (= x > r, i.e. the addition wrapped) and delta = x[0] xor r[0].
 * 5. MSB = gamma xor delta = gamma + delta - 2 gamma delta, with one Beaver multiplication.
 */
/**
 * A compute server's shares of what server2 deals for ComputeMSB (x, its bits, its LSB): nothing
 * here depends on the input, so DReLU starts it before ShareConvert (server0 expands its shares,
 * server1 takes server2's messages, while the ShareConvert rounds run).
 */
function msbDeals(p: Party, op: OpCtx, n: number): Promise<[RingTensor | null, RingTensor | null, RingTensor | null]> {
  const shape = [n];
  return Promise.all([
    deal(p, op, 'msb.deal', 21, null, ringPrg(shape), oddSub, shape),
    deal(p, op, 'msb.deal', 22, null, fieldPrg([n, 64]), sub, [n, 64]),
    deal(p, op, 'msb.deal', 23, null, ringPrg(shape), sub, shape),
  ]);
}

export async function computeMsb(p: Party, op: OpCtx, y: RingTensor | null, n: number, dealt?: ReturnType<typeof msbDeals>): Promise<RingTensor | null> {
  const shape = [n];
  if (p.role === 2) {
    const xRaw = await prgRing(p.crypto!.ownSeed(p)!, shape, { nonce: nonceFor(op.id, 20) });
    const x = await oddAdd(xRaw, RingTensor.fromBigInts([0n], [1])); // reduce 2^64-1 to 0
    const lsb = await cast(await bitExtract(x, 0), 'ring64');
    await Promise.all([
      deal(p, op, 'msb.deal', 21, x, ringPrg(shape), oddSub, shape),
      dealBits(p, op, 'msb.deal', 22, x, n),
      deal(p, op, 'msb.deal', 23, lsb, ringPrg(shape), sub, shape),
    ]);
    const betaP = await privateCompare(p, op, 'msb.compare', nonceFor(op.id, 26), null, null, null, n);
    const betaPRing = await bitsAsRing(betaP!);
    await deal(p, op, 'msb.beta', 24, betaPRing, ringPrg(shape), sub, shape);
    await xorShares(p, op, null, null, n);
    return done([xRaw, x, lsb, betaP, betaPRing], null);
  }
  if (!p.isCompute || !y) return null;
  const j = p.role as 0 | 1;
  const [xj, xBits, lsbJ] = await (dealt ?? msbDeals(p, op, n));
  const rj = await oddAdd(await oddAdd(y, y), xj!);
  const theirs = await p.exchange(tag(op, 'msb.open'), rj);
  const r = await oddAdd(rj, theirs);
  const beta = await prgBits(p.crypto!.pairSeed(p), shape, { nonce: nonceFor(op.id, 25) });
  await privateCompare(p, op, 'msb.compare', nonceFor(op.id, 26), xBits, r, beta, n);
  const betaP = (await deal(p, op, 'msb.beta', 24, null, ringPrg(shape), sub, shape))!;
  // gamma_j = beta'_j + beta (j - 2 beta'_j); delta_j = x0_j + r0 (j - 2 x0_j)   (public 0/1 multipliers)
  if (onCpu(y)) {
    const [gamma, delta] = await msbUnmask(betaP, beta, lsbJ!, r, j);
    const msb = await xorShares(p, op, gamma, delta, n);
    return done([xj, xBits, lsbJ, rj, theirs, r, beta, betaP, gamma, delta], msb);
  }
  const unmask = async (share: RingTensor, bit: RingTensor) => {
    const twice = await mulScalar(share, 2n);
    const flip = await sub(RingTensor.fromBigInts([BigInt(j)], [1]), twice);
    const sel = await mul(bit, flip);
    const out = await add(share, sel);
    return done([twice, flip, sel], out);
  };
  const gamma = await unmask(betaP, await bitsAsRing(beta));
  const rLsb = await cast(await bitExtract(r, 0), 'ring64');
  const delta = await unmask(lsbJ!, rLsb);
  const msb = await xorShares(p, op, gamma, delta, n);
  return done([xj, xBits, lsbJ, rj, theirs, r, beta, betaP, gamma, rLsb, delta], msb);
}

/** Shares of a xor b for shared bits a, b over Z_2^64: a + b - 2ab, one Beaver product. */
async function xorShares(p: Party, op: OpCtx, a: RingTensor | null, b: RingTensor | null, n: number): Promise<RingTensor | null> {
  const cr = p.crypto!;
  const [ma, mb] = await Promise.all([mask(p, cr, op, 40, a, [n]), mask(p, cr, op, 41, b, [n])]);
  const ab = await bilinear(p, cr, op, { kind: 'mul' }, ma, mb, [n], 42);
  for (const m of [ma, mb]) {
    m.alpha?.dispose();
    m.a?.dispose();
  }
  if (!p.isCompute || !a || !b || !ab) return null;
  const sum = await add(a, b);
  const twice = await mulScalar(ab, 2n);
  return done([ab, twice, sum], await sub(sum, twice));
}

/**
 * SecureNN DReLU (Algorithm 6): shares over Z_2^64 of 1 if a >= 0 else 0, for |a| < 2^62.
 * c = 2a is even, so never 2^64 - 1 as ShareConvert requires, and MSB(2a) = MSB(a) in that range.
 * ShareConvert(c), then ComputeMSB, then 1 - MSB.
 */
export async function drelu(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  // ComputeMSB's dealt values do not depend on the input: server2 deals them while ShareConvert
  // runs, and the compute servers take them up meanwhile (same messages, earlier; tags keep them apart).
  if (p.role === 2) {
    await Promise.all([shareConvert(p, op, null, n), computeMsb(p, op, null, n)]);
    return null;
  }
  const dealt = p.isCompute && a ? msbDeals(p, op, n) : undefined;
  // If ShareConvert fails, the early deals' rejections are reported there, not as unhandled.
  dealt?.catch(() => undefined);
  const c = p.isCompute && a ? await mulScalar(a, 2n) : null;
  const y = await shareConvert(p, op, c, n);
  c?.dispose();
  const msb = await computeMsb(p, op, y, n, dealt);
  y?.dispose();
  if (!p.isCompute || !msb) return null;
  return done([msb], p.role === 0 ? await sub(RingTensor.fromBigInts([1n], [1]), msb) : await mulScalar(msb, -1n));
}
