// A product folded into the ReLU gate before it (the 'folded' and 'compact-folded' gate forms,
// docs/fss.md "Folded products"): relu(a) W with no round of its own, because the gate's dealer
// also knows W's mask: after a one-round gate it deals keys that carry it, after a compact gate
// (whose opened masked bit makes DReLU public up to a dealt mask) only products of the masks.
import { add, concat, matmul, mul, pad, reduceSum, reshape, scalarSub, slice, sub } from '../../ops';
import { DCF_MAX_PAYLOADS, dcfEvalMany, dcfKeygenMany, dcfKeyWords } from '../../ops/fss';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal, ringPrg } from '../dealer';
import type { OpCtx, Party } from '../party';
import type { MaskedShare } from '../pond/arith';
import { oneMinusTwice } from '../sign_arith';
import { compactMasks } from './compact_gate';
import { gateMask } from './drelu';
import { bitOf, Held } from './gate_common';
import { dealKeys, evalKeys, keyChunks, part } from './key_stream';

/**
 * The relu gate a folded product reads: its op (server2 draws its masks again), its form, and on
 * the compute servers its openings: [x^] (x^ = a + r, [m n]) from a one-round gate, [x^, e] from a
 * compact one (e = DReLU(a) xor m).
 */
export interface OpenedGate {
  opId: number;
  /** The bits the gate's DCF compares (gate_common.ts lowBits): the keys dealt here compare as many. */
  low: number;
  compact: boolean;
  opened: RingTensor[] | null;
}

/**
 * How a folded product's keys are cut: each gate element's k columns in `groups` groups of
 * `columns` (the last padded with zero payloads), one many-payload DCF key per gate element and
 * group carrying its columns' two payloads each (2 * columns <= DCF_MAX_PAYLOADS).
 */
export function foldedKeyGroups(k: number): { groups: number; columns: number } {
  const groups = Math.ceil(k / (DCF_MAX_PAYLOADS / 2));
  return { groups, columns: Math.ceil(k / groups) };
}

/** uint64 words of one compute server's keys for a product of `elements` gate elements (m n) by k columns, at `low` bits. */
export function foldedKeyWords(elements: number, k: number, low: number): number {
  const { groups, columns } = foldedKeyGroups(k);
  return elements * groups * dcfKeyWords(low, 2 * columns);
}

/**
 * Shares of x W for x = relu(a) [m, n], the output of the one-round relu gate `gate`, and a private
 * W [n, k] in masked form (W = B + beta: beta public to server0 and server1, B shared between them
 * and known to server2, which deals every mask). No message between server0 and server1. Not
 * truncated (the caller truncates, as after a Beaver product).
 *
 * x W = x beta + x B, and x beta is local. For x B, write x_i = d_i (x^_i - r_i) with d_i =
 * [a_i >= 0] (the gate's own identity, drelu.ts), so (x B)_j = sum_i x^_i (d_i B_ij) - d_i (r_i
 * B_ij): shares of d_i P for P = B_ij and P = r_i B_ij make it local, x^ being public. With the
 * gate's A = MSB(x^) public and z = b xor [x^_low < r_low] (drelu.ts, steps 5 and 6),
 * d = (1 - A) - (1 - 2A) z and z P = b P + (1 - 2b) [x^_low < r_low] P, so
 *   d P = (1 - A) P - (1 - 2A) (b P + e),  e the DCF evaluation with payload (1 - 2b) P.
 * Offline, server2 (r and b = MSB(r) of the gate from its own seed, B from the seeds):
 * 1. for each row of x and gate element i, one many-payload DCF key (dcf.h "Many payloads": one
 *    tree) on the gate's low bits, threshold r_i, payloads (1 - 2b_i) B_ij and (1 - 2b_i) r_i B_ij
 *    for every column j (in groups of at most 128 columns: foldedKeyGroups): m n keys;
 * 2. deals shares of r_i B_ij, b_i B_ij and b_i r_i B_ij.
 * Online, server0 and server1 (nothing sent):
 * 3. evaluate the keys at x^_i (one walk per gate element and group), A = MSB(x^);
 * 4. (x B)_j = sum_i (1 - A_i) (x^_i B_ij - (r B)_ij) - (1 - 2A_i) (x^_i ((b B)_ij + e1) - (b r B)_ij - e2),
 *    with their shares of B (W's mask) and of the dealt products;
 * 5. add x beta (x their relu shares, beta public).
 * What each party receives: server0 and server1 the keys (pseudorandom on their own, as the
 * gate's: they hide r, b and B) and shares of r B, b B and b r B (server0's from s02; server1's
 * corrections against s02 it lacks: uniform); nothing online. server2 nothing. Keys made with
 * the same threshold r_i as the gate's own are independent keys (their own PRG stream), each
 * simulated without r; a many-payload key is one DCF key whose output group is Z_2^64 to the P,
 * pseudorandom on its own like any other (the payloads only enter masked correction words).
 */
export async function fssFoldedProduct(p: Party, op: OpCtx, gate: OpenedGate, x: RingTensor | null, w: MaskedShare, m: number, n: number, k: number): Promise<RingTensor | null> {
  if (gate.compact) return compactFoldedProduct(p, op, gate, x, w, m, n, k);
  const cells = m * n * k;
  const cube = [m, n, k];
  const low = gate.low;
  // Keys per gate element and column group: units [m, n, groups], payloads [2, columns] each.
  const { groups, columns } = foldedKeyGroups(k);
  const units = m * n * groups, padded = groups * columns, P = 2 * columns;
  const words = dcfKeyWords(low, P);
  const parts = keyChunks(units, words);
  const dealRing = (slot: number, v: RingTensor | null) => deal(p, op, 'fss.deal', slot, v, ringPrg([cells]), sub, [cells]);
  const held = new Held();
  try {
    if (p.role === 2) {
      const r = await held.keep(gateMask(p, gate.opId, m * n));
      const r3 = await held.keep(reshape(r, [m, n, 1]));
      const b3 = await held.keep(bitOf(r3, low));
      const beta3 = await held.keep(oneMinusTwice(b3));
      const mask = await held.keep(p.crypto!.mask(p, w.ref));
      const w3 = await held.keep(reshape(mask, [1, n, k]));
      const rB = await held.keep(mul(r3, w3));
      const [bB, brB, p1, p2] = await Promise.all([mul(b3, w3), mul(b3, rB), mul(beta3, w3), mul(beta3, rB)].map((t) => held.keep(t)));
      const zeros = await held.keep(RingTensor.fromBigUint64Array(new BigUint64Array(groups), [1, 1, groups]));
      const alpha = await held.keep(reshape(await held.keep(add(r3, zeros)), [units])); // r_i per group
      // Payload rows [units, P]: per unit its columns' (1 - 2b) B, then their (1 - 2b) r B.
      const grouped = async (t: RingTensor) => held.keep(reshape(padded > k ? await held.keep(pad(t, [[0, 0], [0, 0], [0, padded - k]])) : t, [m, n, groups, 1, columns]));
      const beta = await held.keep(reshape(await held.keep(concat([await grouped(p1), await grouped(p2)], 3)), [units, P]));
      const flat = (t: RingTensor) => held.keep(reshape(t, [cells]));
      const [rBf, bBf, brBf] = await Promise.all([rB, bB, brB].map(flat));
      const dealt = Promise.all([dealRing(90, rBf), dealRing(91, bBf), dealRing(92, brBf)]);
      dealt.catch(() => undefined);
      await dealKeys(p, op, parts, async (chunk) => {
        const cuts = await Promise.all([alpha, beta].map((t) => part(t, parts.length, chunk)));
        try {
          return await dcfKeygenMany(cuts[0], cuts[1], { bits: low, seed: p.crypto!.ownSeed(p), nonce: nonceFor(op.id, 81), first: chunk[0] });
        } finally {
          if (parts.length > 1) for (const t of cuts) t.dispose();
        }
      });
      await dealt;
      return null;
    }
    if (!p.isCompute) return null;
    if (!x || !gate.opened?.[0] || !w.a || !w.alpha) throw new Error(`${op.name}: a folded product needs the relu's shares, its gate's opened input and the weight's masked form`);
    const j = p.role as 0 | 1;
    const [rB, bB, brB] = await Promise.all([dealRing(90, null), dealRing(91, null), dealRing(92, null)].map((t) => held.keep(t)));
    const xh3 = await held.keep(reshape(gate.opened[0], [m, n, 1]));
    const zeros = await held.keep(RingTensor.fromBigUint64Array(new BigUint64Array(groups), [1, 1, groups]));
    const xRep = await held.keep(reshape(await held.keep(add(xh3, zeros)), [units]));
    // Step 3, chunk by chunk as the keys arrive (every column's two payloads from one walk per unit).
    const [y] = await evalKeys(p, op, parts, words, 1, xRep, async (key, xc) => [await dcfEvalMany(key, xc, { bits: low, party: j, payloads: P })]);
    const y5 = await held.keep(reshape(await held.keep(y), [m, n, groups, 2, columns]));
    // Payload h (0: (1 - 2b) B, 1: (1 - 2b) r B) of every column, [m, n, k].
    const payload = async (h: number) => {
      const cut = await held.keep(reshape(await held.keep(slice(y5, [0, 0, 0, h, 0], [m, n, groups, 1, columns])), [m, n, padded]));
      return padded > k ? held.keep(slice(cut, [0, 0, 0], [m, n, k])) : cut;
    };
    const [e13, e23] = [await payload(0), await payload(1)];
    // Step 4.
    const cubeOf = (t: RingTensor | null) => held.keep(reshape(t!, cube));
    const [rB3, bB3, brB3] = await Promise.all([rB, bB, brB].map(cubeOf));
    const a3 = await held.keep(bitOf(xh3, low));
    const notA = await held.keep(scalarSub(1n, a3)); // 1 - A
    const sign = await held.keep(oneMinusTwice(a3)); // 1 - 2A
    const w3 = await held.keep(reshape(w.a, [1, n, k]));
    const xB = await held.keep(mul(xh3, w3));
    const first = await held.keep(sub(xB, rB3));
    const bBe = await held.keep(add(bB3, e13));
    const xbBe = await held.keep(mul(xh3, bBe));
    const brBe = await held.keep(add(brB3, e23));
    const second = await held.keep(sub(xbBe, brBe));
    const [f1, f2] = await Promise.all([mul(notA, first), mul(sign, second)].map((t) => held.keep(t)));
    const cells3 = await held.keep(sub(f1, f2));
    const xBShare = await held.keep(reduceSum(cells3, 1)); // [m, k]
    // Step 5.
    const xBeta = await held.keep(matmul(x, w.alpha));
    return await add(xBShare, xBeta);
  } finally {
    held.dispose();
  }
}

/**
 * fssFoldedProduct after a compact gate (compact_gate.ts): there the compute servers open x^ = a +
 * r and then e = d xor m (d = DReLU(a), m a bit only server2 knows), so d = e + (1 - 2e) m with e
 * public, and x_i B_ij = d_i (x^_i - r_i) B_ij
 *   = e_i (x^_i B_ij - r_i B_ij) + (1 - 2e_i) (x^_i m_i B_ij - m_i r_i B_ij):
 * every term is a public value times a share once server0 and server1 hold shares of r_i B_ij,
 * m_i B_ij and m_i r_i B_ij. No keys.
 * Offline, server2 (r and m of the gate from its own seed, B from the seeds):
 * 1. deals shares of r_i B_ij, m_i B_ij and m_i r_i B_ij (m n k cells each).
 * Online, server0 and server1 (nothing sent):
 * 2. (x B)_j = sum_i e_i (x^_i B_ij - (r B)_ij) + (1 - 2e_i) (x^_i (m B)_ij - (m r B)_ij);
 * 3. add x beta.
 * What each party receives: server0 nothing (its shares come from s02), server1 the corrections
 * (uniform: it lacks s02); nothing online; server2 nothing. (e itself is the compact gate's
 * opening, uniform given everything else either holds: compact_gate.ts.)
 */
async function compactFoldedProduct(p: Party, op: OpCtx, gate: OpenedGate, x: RingTensor | null, w: MaskedShare, m: number, n: number, k: number): Promise<RingTensor | null> {
  const cells = m * n * k;
  const dealRing = (slot: number, v: RingTensor | null) => deal(p, op, 'fss.deal', slot, v, ringPrg([cells]), sub, [cells]);
  const held = new Held();
  try {
    if (p.role === 2) {
      const [r, bit] = await compactMasks(p, gate.opId, m * n);
      await Promise.all([held.keep(r), held.keep(bit)]);
      const r3 = await held.keep(reshape(r, [m, n, 1]));
      const m3 = await held.keep(reshape(bit, [m, n, 1]));
      const mask = await held.keep(p.crypto!.mask(p, w.ref));
      const w3 = await held.keep(reshape(mask, [1, n, k]));
      const rB = await held.keep(mul(r3, w3));
      const [mB, mrB] = await Promise.all([mul(m3, w3), mul(m3, rB)].map((t) => held.keep(t)));
      const flat = (t: RingTensor) => held.keep(reshape(t, [cells]));
      const [rBf, mBf, mrBf] = await Promise.all([rB, mB, mrB].map(flat));
      await Promise.all([dealRing(93, rBf), dealRing(94, mBf), dealRing(95, mrBf)]);
      return null;
    }
    if (!p.isCompute) return null;
    if (!x || !gate.opened?.[0] || !gate.opened[1] || !w.a || !w.alpha) throw new Error(`${op.name}: a folded product needs the relu's shares, its compact gate's two openings and the weight's masked form`);
    const cube = (t: RingTensor | null) => held.keep(reshape(t!, [m, n, k]));
    const [rB, mB, mrB] = await Promise.all([dealRing(93, null), dealRing(94, null), dealRing(95, null)].map((t) => held.keep(t).then(cube)));
    const xh3 = await held.keep(reshape(gate.opened[0], [m, n, 1]));
    const e3 = await held.keep(reshape(gate.opened[1], [m, n, 1]));
    const flip = await held.keep(oneMinusTwice(e3)); // 1 - 2e
    const w3 = await held.keep(reshape(w.a, [1, n, k]));
    // Step 2.
    const first = await held.keep(sub(await held.keep(mul(xh3, w3)), rB));
    const second = await held.keep(sub(await held.keep(mul(xh3, mB)), mrB));
    const terms = await held.keep(add(await held.keep(mul(e3, first)), await held.keep(mul(flip, second))));
    const xBShare = await held.keep(reduceSum(terms, 1)); // [m, k]
    // Step 3.
    const xBeta = await held.keep(matmul(x, w.alpha));
    return await add(xBShare, xBeta);
  } finally {
    held.dispose();
  }
}
