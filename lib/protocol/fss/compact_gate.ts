// The compact form of the FSS sign and ReLU gates: a one-bit DCF key (936 bytes against the
// one-round gate's 2056 for relu) and one AES call per level in evaluation, for a second online
// round in which each compute server sends one masked bit per element. FSS_STEPS.compactFrom
// decides which form a gate takes (steps.ts); this is the DReLU-from-a-one-bit-DCF-plus-select
// structure of Orca's two-round ReLU (Jawalkar et al., S&P 2024), on our dealer and wire.
import { awaitedLater } from '../../awaited_later';
import { add, addScalar, bitExtract, cast, concat, mul, shiftRightLogical, sub, xor } from '../../ops';
import { dcfBitEval, dcfBitKeygen, dcfBitKeyWords } from '../../ops/fss';
import { prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal, ringPrg } from '../dealer';
import { type OpCtx, type Party, tag } from '../party';
import { oneMinusTwice } from '../sign_arith';
import { bitOf, Held, lowBits, openMasked } from './gate_common';
import { dealKeys, evalKeys, keyChunks, part } from './key_stream';
import { FSS_STEPS, maskSeed } from './steps';

/**
 * server2: the compact gate's masks of op `opId` over n elements, r (its input mask) and m (its
 * output bit's mask), from its own seed (zero under the test switches, as the gate draws them); a
 * folded product (folded_product.ts) draws them again to deal against the same r and m.
 */
export async function compactMasks(p: Party, opId: number, n: number): Promise<[RingTensor, RingTensor]> {
  const own = maskSeed(p);
  const zeros = () => RingTensor.fromBigUint64Array(new BigUint64Array(n), [n]);
  const r = FSS_STEPS.maskInput ? await prgRing(own, [n], { nonce: nonceFor(opId, 80) }) : zeros();
  if (!(FSS_STEPS.maskInput && FSS_STEPS.maskBit)) return [r, zeros()];
  const draw = await prgRing(own, [n], { nonce: nonceFor(opId, 88) });
  try {
    return [r, await shiftRightLogical(draw, 63)];
  } finally {
    draw.dispose();
  }
}

/**
 * Shares over Z_2^64 of DReLU(a) = [a >= 0] (a read as a signed 64-bit integer, exact on the whole
 * ring), or with `relu` of relu(a) = a DReLU(a), in two online rounds. At a width n below 64
 * (Party.fssBits), "63" below is n - 1 and MSB bit n - 1, as in drelu.ts.
 *
 * Offline, server2 (its own seed, so neither compute server knows r or m):
 * 1. draws r uniform on Z_2^64 and a bit m uniform; b = MSB(r), w = b xor m;
 * 2. deals additive shares of r and m, and for relu of r m (seed-compressed, as drelu.ts);
 * 3. makes one-bit DCF keys for x -> [x < r mod 2^63] xor w on 63-bit inputs: k0 to server0, k1 to
 *    server1; each key carries its party's XOR share of w (dcf_bit.h).
 * Online, server0 and server1:
 * 4. open x^ = a + r (round 1);
 * 5. y_j = DCF_kj(x^ mod 2^63), so y0 xor y1 = [x^_low < r_low] xor b xor m = MSB(a) xor A xor m
 *    with A = MSB(x^) public (drelu.ts gives why); e_0 = y_0 xor 1 xor A, e_1 = y_1 share
 *    e = DReLU(a) xor m;
 * 6. open e (round 2: one bit per element each way);
 * 7. d = e xor m = e + (1 - 2e) m: d_j = [j = 0] e + (1 - 2e) m_j;
 * 8. relu only: relu(a) = (x^ - r) d = x^ d - (e r + (1 - 2e) r m), every term a public value times
 *    a share: relu_j = x^ d_j - e r_j - (1 - 2e) (rm)_j.
 * What each party receives: server0 and server1 their one-bit DCF key (pseudorandom on its own: it
 * hides r, and its offset share hides w), server1 the corrections of r, m and r m (uniform: it lacks
 * s02), each the peer's share of x^ (x^ is uniform: r is uniform and unknown to both) and of e (e
 * is uniform and independent of everything else either holds: m is a fresh uniform bit known to
 * server2 alone, and a party's shares of m, r m and w are uniform on their own); server2 nothing.
 */
export async function compactSign(p: Party, op: OpCtx, a: RingTensor | null, n: number, opts: { relu?: boolean; bit?: boolean; keepOpened?: (xHat: RingTensor, e: RingTensor) => void } = {}): Promise<RingTensor | null> {
  const shape = [n];
  const dealRing = (slot: number, v: RingTensor | null) => deal(p, op, 'fss.deal', slot, v, ringPrg(shape), sub, shape);
  const low = lowBits(p, op);
  const parts = keyChunks(n, dcfBitKeyWords(low));
  if (p.role === 2) {
    const own = p.crypto!.ownSeed(p);
    const held = new Held();
    try {
      const [r, m] = await compactMasks(p, op.id, n);
      await Promise.all([held.keep(r), held.keep(m)]);
      const b = await held.keep(bitOf(r, low));
      // w = b xor m = b + m - 2 b m on bits.
      const bm = await held.keep(mul(b, m));
      const w = await held.keep(sub(await held.keep(add(b, m)), await held.keep(add(bm, bm))));
      const rm = opts.relu ? await held.keep(mul(r, m)) : null;
      // The dealt shares first: the compute servers open x^ with them while the keys are made.
      const dealt = awaitedLater(Promise.all([dealRing(82, r), dealRing(86, m), rm ? dealRing(87, rm) : null]));
      await dealKeys(p, op, parts, async (chunk) => {
        const [rc, wc] = await Promise.all([part(r, parts.length, chunk), part(w, parts.length, chunk)]);
        try {
          return await dcfBitKeygen(rc, wc, { bits: low, seed: own, nonce: nonceFor(op.id, 89), first: chunk[0] });
        } finally {
          if (parts.length > 1) for (const t of [rc, wc]) t.dispose();
        }
      });
      await dealt;
    } finally {
      held.dispose();
    }
    return null;
  }
  if (!p.isCompute || !a) return null;
  const j = p.role as 0 | 1;
  const held = new Held();
  const [rj, mj, rmj] = await Promise.all([dealRing(82, null), dealRing(86, null), opts.relu ? dealRing(87, null) : null].map((t) => held.keep(t)));
  try {
    // Step 4: open x^ = a + r.
    const xHat = await held.keep(openMasked(p, op, a, rj!));
    // Step 5, chunk by chunk as the keys arrive.
    const [y] = await evalKeys(p, op, parts, dcfBitKeyWords(low), 1, xHat, async (key, xc) => [await dcfBitEval(key, xc, { bits: low, party: j })]);
    let ej = await held.keep(y);
    // 1 xor A is the sign bit of x^ + 2^(n-1) (A: bit n - 1 of x^, 63 on the whole ring).
    if (j === 0) ej = await held.keep(xor(y, await held.keep(bitExtract(await held.keep(addScalar(xHat, 1n << BigInt(low))), low))));
    // Step 6: open e = DReLU(a) xor m.
    const e = await held.keep(cast(await held.keep(xor(ej, await held.keep(p.exchange(tag(op, 'fss.bit'), ej)))), 'ring64'));
    // Both openings go to the caller now (held until here, so that a failure above frees them).
    if (opts.keepOpened) opts.keepOpened(held.release(xHat), held.release(e));
    // Step 7.
    const flip = await held.keep(oneMinusTwice(e));
    const fm = await held.keep(mul(flip, mj!));
    const d = j === 0 ? await held.keep(add(e, fm)) : fm;
    if (!opts.relu) return held.release(d);
    // Step 8.
    const rd = await held.keep(add(await held.keep(mul(e, rj!)), await held.keep(mul(flip, rmj!))));
    if (!opts.bit) return await sub(await held.keep(mul(xHat, d)), rd);
    // [relu; d]: d was computed on the way (nothing more is sent).
    return await concat([await held.keep(sub(await held.keep(mul(xHat, d)), rd)), d]);
  } finally {
    held.dispose();
  }
}
