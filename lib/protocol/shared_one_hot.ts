// One-hot rows of private whole numbers, for reading a private table at a private index (a
// vocabulary's bucket table: lib/api/table_read.ts). Every protocol has server2 as a dealer, so
// this runs under each of them: server2 deals one-hot rows at random points, server0 and server1
// open how far the private number lies from that point, and each rotates its share of the row by
// that public distance. Only the distance is opened, and it is uniform.
import { add, concat, gather, pad, reshape, shiftLeft, shiftRightLogical, sub } from '../ops';
import { prgRing } from '../prg/prg';
import { RingTensor } from '../tensor/ring_tensor';
import { nonceFor } from './correlated';
import { deal, ringPrg } from './dealer';
import { EXACT_PROTOCOLS } from './exact_protocols';
import { DEALT_ROWS } from './one_hot_rows';
import { type OpCtx, type Party, tag } from './party';
import { defineGuardedSwitches } from './test_switches';

/**
 * Test controls (test_switches.ts): `mask` false makes server2's point r zero (and rho), so the
 * opened distance is the private number itself; `fraction` false makes rho zero alone, so the
 * opening shows a code's fraction bits (the view tests' controls, which must then fail).
 */
export const ONE_HOT_STEPS = defineGuardedSwitches({}, 'ONE_HOT_STEPS', { mask: true, fraction: true });

/** Widths a one-hot row may have: 2^hiBits and 2^(loBits + 1) together at most 2^24 values. */
export const MAX_ONE_HOT_BITS = 24;

/** The width of sharedOneHots' rows: q's one-hot, then p's (none when loBits is 0). */
export const oneHotsWidth = (hiBits: number, loBits: number): number => 2 ** hiBits + (loBits ? 2 ** (loBits + 1) : 0);

/**
 * For flat [n] shares x of whole numbers (fixed point: x 2^f) and k = hiBits + loBits, shares of
 * the one-hot rows of q in [0, 2^hiBits) and p in [0, 2^(loBits + 1) - 1), side by side as
 * [n, oneHotsWidth] (p's none when loBits is 0: then x mod 2^k = q), with
 * x mod 2^k = (q 2^loBits + p) mod 2^k: q the block of x mod 2^k, p its place in the window of
 * blocks q and q + 1 (the second block takes the carry, which no one can compute without r).
 * A one-hot's 1 is the ring's 1, not fixed point's 2^f: a product with it needs no truncation
 * (table_read.ts), and 2^f times it is fixed point's one-hot.
 *
 * Offline, server2 (its own seed, so neither compute server knows r):
 * 1. draws r = r_hi 2^loBits + r_lo per element, r_hi uniform below 2^hiBits, r_lo below 2^loBits;
 * 2. deals shares of r 2^f (seed-compressed: server0 expands its share, server1 receives the
 *    value less it) and of the one-hot rows of r_hi [n, 2^hiBits] and of r_lo [n, 2^loBits] as the
 *    protocol deals rows (one_hot_rows.ts: the rows seed-compressed as r, or under FSS a DPF key
 *    per row, which each compute server expands).
 * Online, server0 and server1:
 * 3. open d = (x - r) mod 2^k: each sends its share of (x - r) 2^f shifted up by 64 - f - k bits,
 *    so that only its low f + k bits travel; the sum is d 2^(64 - k) (one round);
 * 4. d = d_hi 2^loBits + d_lo; q = (r_hi + d_hi) mod 2^hiBits: r_hi's row rotated by d_hi;
 *    p = r_lo + d_lo < 2^(loBits + 1) - 1: r_lo's row padded to twice its width with zeros, then
 *    shifted by d_lo (no wrap). Then q 2^loBits + p = r + d = x mod 2^k.
 * What each party receives: server1 its share of r 2^f, the value less a share expanded from s02,
 * which server1 lacks: uniform; server0 nothing of r. The rows: as dealt values, server1's share
 * uniform as r's; as DPF keys, each compute server's key pseudorandom on its own (it hides r_hi,
 * r_lo: dpf.h). Each
 * receives the other's share of step 3's opening, uniform on f + k bits given everything else it
 * holds (its own share of r is r 2^f less the other's uniform share); together they give d = x - r
 * mod 2^k, uniform as r is and independent of x. server2 receives nothing.
 * A client's x that is not whole shows its own fraction bits in d's low bits (r 2^f has none
 * there): only its own input's garbage.
 *
 * `fraction`: x may carry fraction bits that are not its owner's to show (IntegerLookup's codes,
 * which Keras casts: layers_lookup.ts). Server2 then deals r 2^f + rho, rho uniform below 2^f, so
 * the opened f + k bits are uniform whatever x holds; the rows' point is r as before. The top k
 * bits of the opening are then floor(x - r - rho 2^-f) mod 2^k, so the rows point at
 * floor(x) - c mod 2^k for a carry c in {0, 1} no one knows (c = [frac(x) < rho 2^-f]): the caller
 * reads the point and the one after it (table_read.ts).
 */
export async function sharedOneHots(p: Party, op: OpCtx, x: RingTensor | null, n: number, hiBits: number, loBits: number, fraction = false): Promise<RingTensor | null> {
  const f = p.fixed.fracBits, k = hiBits + loBits;
  if (!(hiBits >= 1 && loBits >= 0 && hiBits + loBits + 1 <= MAX_ONE_HOT_BITS && f + k < 64)) throw new RangeError(`sharedOneHots: block bits ${hiBits} and ${loBits} out of range`);
  const L = 2 ** loBits;
  // How the rows travel: the protocol's own form (FSS: a DPF key per row), else the rows themselves.
  const rows = EXACT_PROTOCOLS[p.protocol]?.oneHotRows ?? DEALT_ROWS;
  const dealtR = (v: RingTensor | null) => deal(p, op, 'onehot.deal', 61, v, ringPrg([n]), sub, [n]);
  if (p.role === 2) {
    const seed = await prgRing(p.crypto!.ownSeed(p), [n], { nonce: nonceFor(op.id, 60) });
    const raw = seed.toBigUint64Array();
    seed.dispose();
    const kMask = (1n << BigInt(k)) - 1n, fMask = (1n << BigInt(f)) - 1n;
    const r = new BigUint64Array(n), hiPoints = new BigUint64Array(n), loPoints = new BigUint64Array(n);
    for (let i = 0; i < n; i++) {
      const ri = ONE_HOT_STEPS.mask ? raw[i] & kMask : 0n;
      // rho from the bits above r's (k + f < 64): the same draw, independent of r.
      const rho = fraction && ONE_HOT_STEPS.mask && ONE_HOT_STEPS.fraction ? (raw[i] >> BigInt(k)) & fMask : 0n;
      r[i] = (ri << BigInt(f)) | rho;
      hiPoints[i] = ri >> BigInt(loBits);
      loPoints[i] = ri & BigInt(L - 1);
    }
    const rT = RingTensor.fromBigUint64Array(r, [n]);
    try {
      await Promise.all([dealtR(rT), rows.deal(p, op, 62, hiPoints, n, hiBits), ...(loBits ? [rows.deal(p, op, 63, loPoints, n, loBits)] : [])]);
    } finally {
      rT.dispose();
    }
    return null;
  }
  if (!p.isCompute || !x) return null;
  const [rj, hiRow, loRow] = await Promise.all([dealtR(null), rows.deal(p, op, 62, null, n, hiBits), loBits ? rows.deal(p, op, 63, null, n, loBits) : Promise.resolve(null)]);
  const owned: (RingTensor | null)[] = [rj, hiRow, loRow];
  try {
    const diff = await sub(x, rj!);
    owned.push(diff);
    const mine = await shiftLeft(diff, 64 - f - k);
    owned.push(mine);
    const theirs = await p.exchange(tag(op, 'onehot.open'), mine);
    owned.push(theirs);
    const sum = await add(mine, theirs);
    owned.push(sum);
    const dT = await shiftRightLogical(sum, 64 - k);
    owned.push(dT);
    const d = dT.toBigUint64Array();
    const hi = await rotateRows(hiRow!, Array.from(d, (v) => Number(v >> BigInt(loBits))));
    if (!loBits) return hi;
    owned.push(hi);
    const wide = await pad(loRow!, [[0, 0], [0, L]]);
    owned.push(wide);
    const lo = await rotateRows(wide, Array.from(d, (v) => Number(v & BigInt(L - 1))));
    owned.push(lo);
    return await concat([hi, lo], 1);
  } finally {
    for (const t of owned) t?.dispose();
  }
}

/** Row t of a [n, W] tensor rotated right by by[t] places (cyclically): out[t, j] = a[t, (j - by[t]) mod W]. */
export async function rotateRows(a: RingTensor, by: readonly number[]): Promise<RingTensor> {
  const [n, w] = a.shape, index = new Int32Array(n * w);
  for (let t = 0; t < n; t++) {
    const s = ((by[t] % w) + w) % w, base = t * w;
    for (let j = 0; j < w; j++) index[base + j] = base + ((j - s + w) % w);
  }
  const flat = reshape(a, [n * w]);
  let g: RingTensor | undefined;
  try {
    g = await gather(flat, index, 0);
    return reshape(g, [n, w]);
  } finally {
    flat.dispose();
    g?.dispose();
  }
}
