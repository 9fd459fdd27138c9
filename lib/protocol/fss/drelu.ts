// DReLU by function secret sharing with server2 as the dealer (the sign gate of Boyle, Chandran,
// Gilboa, Gupta, Ishai, Kumar, Rathee, Eurocrypt 2021, as AriaNN and Orca use it): one round
// online between server0 and server1, and server2 receives nothing. Gates of
// FSS_STEPS.compactFrom elements or more take the compact two-round form instead (compact_gate.ts:
// keys half the size; docs/fss.md "Two gate forms").
import { awaitedLater } from '../../awaited_later';
import { mul, sub } from '../../ops';
import { dcfEval, dcfEval2, dcfKeygen, dcfKeygen2, dcfKeyWords, fssSignFinish } from '../../ops/fss';
import { prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal, ringPrg } from '../dealer';
import type { OpCtx, Party } from '../party';
import { oneMinusTwice } from '../sign_arith';
import { compactSign } from './compact_gate';
import { dealKeys, evalKeys, keyChunks, part } from './key_stream';
import { bitOf, Held, lowBits, openMasked } from './gate_common';
import { FSS_STEPS, maskSeed, takesCompactForm } from './steps';

export { FSS_STEPS } from './steps';

/**
 * Shares over Z_2^64 of DReLU(a) = [a >= 0] for a read as a signed 64-bit integer: exact on the
 * whole ring (SecureNN's needs |a| < 2^62). With `relu`, shares of relu(a) = a DReLU(a) instead,
 * still in the one online round (the ReLU gate of the same paper). At a width n below 64
 * (Party.fssBits) every "63" below is n - 1 and MSB is bit n - 1: the sign of a mod 2^n, which is
 * a's while |a| < 2^(n-1) (docs/fss.md, "Narrower comparisons"); x^ is still opened on the whole
 * ring, so what each party receives is as below.
 *
 * Offline, server2 (its own seed, so neither compute server knows r):
 * 1. draws r uniform on Z_2^64; b = MSB(r);
 * 2. deals additive shares of r and of b (seed-compressed: server0 expands, server1 receives
 *    the corrections), and for relu of r b;
 * 3. makes DCF keys for x -> (1 - 2b) [x < r mod 2^63] on 63-bit inputs (for relu, one tree with
 *    a second payload, x -> r (1 - 2b) [x < r mod 2^63]); server0 gets k0, server1 k1.
 * Online, server0 and server1:
 * 4. open x^ = a + r (each sends its share of it to the other: one round);
 * 5. c_j = DCF_kj(x^ mod 2^63), so c0 + c1 = (1 - 2b) [x^_low < r_low]; z_j = c_j + b_j is a
 *    sharing of z = b xor [x^_low < r_low];
 * 6. with A = MSB(x^) public, MSB(a) = A xor z = A + z (1 - 2A), and
 *    d = DReLU(a) = 1 - MSB(a): d_j = [j = 0](1 - A) - z_j (1 - 2A).
 * 7. relu only: r z = r b + r (1 - 2b) c has shares (rb)_j + e_j (e, the second payload), so
 *    r d = r (1 - A) - (1 - 2A) r z is local too, and relu(a) = (x^ - r) d = x^ d - r d: x^ is
 *    public, so every term is a local product with a public value (no truncation: d is 0 or 1).
 * Why MSB(a) = MSB(x^) xor MSB(r) xor [x^_low < r_low]: x^ - r = 2^63 (A - b) + (x^_low - r_low),
 * and the low difference borrows from bit 63 exactly when x^_low < r_low.
 * What each party receives: server0 and server1 DCF keys (pseudorandom on their own: they hide
 * r and b), shares of r, b and r b (uniform: server0's from s02, server1's corrections against s02
 * it lacks), and the peer's share of x^ (uniform: r is uniform and unknown to both); server2
 * nothing.
 */
export async function fssSign(p: Party, op: OpCtx, a: RingTensor | null, n: number, opts: { relu?: boolean; bit?: boolean; keepOpened?: (opened: RingTensor[]) => void } = {}): Promise<RingTensor | null> {
  if (takesCompactForm(p.fssGate, n, p.fssCompactFrom)) {
    const keep = opts.keepOpened;
    return compactSign(p, op, a, n, { ...opts, keepOpened: keep && ((xHat, e) => keep([xHat, e])) });
  }
  const shape = [n];
  const payloads = opts.relu ? 2 : 1;
  const dealRing = (slot: number, v: RingTensor | null) => deal(p, op, 'fss.deal', slot, v, ringPrg(shape), sub, shape);
  const low = lowBits(p, op);
  const parts = keyChunks(n, dcfKeyWords(low, payloads));
  if (p.role === 2) {
    const own = p.crypto!.ownSeed(p);
    const r = await gateMask(p, op.id, n);
    const b = await bitOf(r, low);
    const beta = await oneMinusTwice(b);
    const rBeta = opts.relu ? await mul(r, beta) : null;
    const rb = opts.relu ? await mul(r, b) : null;
    try {
      // The dealt shares first: the compute servers open x^ with them while the keys are made.
      const dealt = awaitedLater(Promise.all([dealRing(82, r), dealRing(83, b), rb ? dealRing(85, rb) : null]));
      await dealKeys(p, op, parts, async (chunk) => {
        const cut = (t: RingTensor) => part(t, parts.length, chunk);
        const [rc, betac, rBetac] = await Promise.all([cut(r), cut(beta), rBeta ? cut(rBeta) : null]);
        const keygen = { bits: low, seed: own, nonce: nonceFor(op.id, 81), first: chunk[0] };
        try {
          return rBetac ? await dcfKeygen2(rc, betac, rBetac, keygen) : await dcfKeygen(rc, betac, keygen);
        } finally {
          if (parts.length > 1) for (const t of [rc, betac, rBetac]) t?.dispose();
        }
      });
      await dealt;
    } finally {
      for (const t of [r, b, beta, rBeta, rb]) t?.dispose();
    }
    return null;
  }
  if (!p.isCompute || !a) return null;
  const j = p.role as 0 | 1;
  const held = new Held();
  const [rj, bj, rbj] = await Promise.all([dealRing(82, null), dealRing(83, null), opts.relu ? dealRing(85, null) : null].map((t) => held.keep(t)));
  try {
    // Step 4: open x^ = a + r.
    const xHat = await openMasked(p, op, a, rj!);
    if (opts.keepOpened) opts.keepOpened([xHat]);
    else await held.keep(xHat);
    // Steps 5 and 6 (for relu, both payloads come from one walk of the tree), chunk by chunk as
    // the keys arrive.
    const evals = await evalKeys(p, op, parts, dcfKeyWords(low, payloads), payloads, xHat, async (key, xc) =>
      payloads === 2 ? dcfEval2(key, xc, { bits: low, party: j }) : [await dcfEval(key, xc, { bits: low, party: j })],
    );
    for (const e of evals) await held.keep(e);
    // Steps 5-7 in one kernel (FssSignFinish, native/src/fss/sign_gate.cc): a dozen ring ops on
    // a few hundred elements at batch 1, each paying the op layer's fixed cost between two
    // openings, as one pass. For relu with bit, [relu; d]: d is computed on the way.
    return await fssSignFinish(xHat, evals[0], bj!, j, opts.relu ? { e: evals[1], r: rj!, rb: rbj!, bit: opts.bit } : undefined, low);
  } finally {
    held.dispose();
  }
}

/**
 * server2: the one-round gate's input mask r of op `opId` over n elements, from its own seed (r = 0
 * under the test switch FSS_STEPS.maskInput = false). A folded product (folded_product.ts) draws
 * it again to deal keys against the same r.
 */
export async function gateMask(p: Party, opId: number, n: number): Promise<RingTensor> {
  if (!FSS_STEPS.maskInput) return RingTensor.fromBigUint64Array(new BigUint64Array(n), [n]);
  return prgRing(maskSeed(p), [n], { nonce: nonceFor(opId, 80) });
}

/** Shares of relu(a) and [a >= 0] together, [relu; d] flat [2n]: the relu gate's own steps. */
export const fssReluBit = (p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> => fssSign(p, op, a, n, { relu: true, bit: true });

/** Shares of [a >= 0]: see fssSign. */
export const fssDrelu = (p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> => fssSign(p, op, a, n);

/** Shares of relu(a) = a [a >= 0] in one online round: see fssSign. */
export const fssRelu = (p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> => fssSign(p, op, a, n, { relu: true });

/**
 * fssRelu whose openings go to `keep` (compute servers) instead of being freed: [x^] (x^ = a + r,
 * [n]) from the one-round gate, [x^, e] from the compact one (e = DReLU(a) xor m, ring64 0/1). A
 * product folded into this gate (folded_product.ts) reads them. The caller owns them.
 */
export const fssReluKeepingOpened = (p: Party, op: OpCtx, a: RingTensor | null, n: number, keep: (opened: RingTensor[]) => void): Promise<RingTensor | null> => fssSign(p, op, a, n, { relu: true, keepOpened: keep });
