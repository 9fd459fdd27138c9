// The FSS equality gate: [a = 0] from one distributed point function key per element (Boyle,
// Gilboa, Ishai, CCS 2016, as the equality gates of Boyle et al., Eurocrypt 2021, and SIGMA, PETS
// 2024, use it), with server2 as the dealer: one online round between server0 and server1, and
// server2 receives nothing. Where comparisons give it as [a >= 0] - [a - 1 >= 0] (two DCF keys,
// 2 x 2056 bytes at the full width, four AES calls per level), a DPF key is 2 n + 3 words (1048
// bytes at n = 64, 776 for strings' ids: 47 bits) and one call per level (native/src/fss/dpf.h).
import { awaitedLater } from '../../awaited_later';
import { shiftRightLogical, sub } from '../../ops';
import { dpfEval, dpfKeygen, dpfKeyWords } from '../../ops/fss';
import { prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal, ringPrg } from '../dealer';
import type { OpCtx, Party } from '../party';
import { gateBits, openMasked } from './gate_common';
import { dealKeys, evalKeys, keyChunks, part } from './key_stream';
import { FSS_STEPS, maskSeed } from './steps';

/**
 * Shares over Z_2^64 of [a = 0] for flat [n] shares a whose values lie in (-2^(n-1), 2^(n-1)) for
 * the gate's width n (gateBits: the op's bound, or 64): there a = 0 exactly when a mod 2^n = 0.
 * Where every a is a multiple of 2^f (OpCtx.wholeUnits: whole numbers in fixed point), the DPF
 * takes bits f .. n - 1 only: x^ = a + r has r's low f bits and no carry out of them, so
 * x^ >> f = (a >> f) + (r >> f), and the keys are n - f levels deep.
 *
 * Offline, server2 (its own seed, so neither compute server knows r):
 * 1. draws r uniform on Z_2^64;
 * 2. deals additive shares of r (seed-compressed: server0 expands its share, server1 receives
 *    r less it);
 * 3. makes DPF keys for x -> [x = r mod 2^n] on n-bit inputs (x >> f against r >> f on n - f
 *    bits: above), payload 1, in chunks (key_stream.ts); server0 gets k0, server1 k1.
 * Online, server0 and server1:
 * 4. open x^ = a + r (each sends its share of it to the other: one round);
 * 5. y_j = DPF_kj(x^ mod 2^n) (or of x^ >> f): y0 + y1 = [x^ = r mod 2^n] = [a = 0 mod 2^n].
 * What each party receives: server0 its key, server1 its key and its share of r; each DPF key
 * alone is pseudorandom (it hides r: dpf.h), server1's share of r is uniform (server0's comes
 * from s02, which server1 lacks), and the peer's share of x^ is uniform given everything else a
 * compute server holds, as r is uniform and neither knows it (its own share of r is r less the
 * other's uniform share). server2 receives nothing.
 */
export async function fssIsZero(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  const shape = [n];
  // Inputs that are multiples of 2^low (OpCtx.wholeUnits) leave their low bits out of the domain:
  // x^'s low bits are then r's, with no carry into the rest.
  const width = gateBits(p.fssBits, op), low = Math.min(op.wholeUnits ?? 0, width - 1);
  const bits = width - low;
  const high = (t: RingTensor) => (low ? shiftRightLogical(t, low) : t);
  const parts = keyChunks(n, dpfKeyWords(bits));
  const dealR = (v: RingTensor | null) => deal(p, op, 'fss.deal', 97, v, ringPrg(shape), sub, shape);
  if (p.role === 2) {
    // r = 0 under the test control maskInput = false: x^ is then a itself (the view tests' control).
    const r = FSS_STEPS.maskInput ? await prgRing(maskSeed(p), shape, { nonce: nonceFor(op.id, 96) }) : RingTensor.fromBigUint64Array(new BigUint64Array(n), shape);
    const one = RingTensor.fromBigUint64Array(new BigUint64Array(n).fill(1n), shape);
    const rHigh = await high(r);
    try {
      // The share of r first: the compute servers open x^ with it while the keys are made.
      const dealt = awaitedLater(dealR(r));
      await dealKeys(p, op, parts, async (chunk) => {
        const [rc, onec] = await Promise.all([part(rHigh, parts.length, chunk), part(one, parts.length, chunk)]);
        try {
          return await dpfKeygen(rc, onec, { bits, seed: p.crypto!.ownSeed(p), nonce: nonceFor(op.id, 98), first: chunk[0] });
        } finally {
          if (parts.length > 1) for (const t of [rc, onec]) t.dispose();
        }
      });
      await dealt;
    } finally {
      if (rHigh !== r) rHigh.dispose();
      r.dispose();
      one.dispose();
    }
    return null;
  }
  if (!p.isCompute || !a) return null;
  const rj = (await dealR(null))!;
  try {
    const opened = await openMasked(p, op, a, rj);
    const xHat = await high(opened);
    if (xHat !== opened) opened.dispose();
    try {
      const [y] = await evalKeys(p, op, parts, dpfKeyWords(bits), 1, xHat, async (key, xc) => [await dpfEval(key, xc, { bits, party: p.role as 0 | 1 })]);
      return y;
    } finally {
      xHat.dispose();
    }
  } finally {
    rj.dispose();
  }
}
