// Maxima (and their positions) over the leading axis by a comparison tree, under every exact
// protocol (the DReLU is the protocol's: comparison.ts). As SecureNN's MaxPool, it
// reduces each window with log2(k) levels, every level one vectorised DReLU over all pairs and one
// selection, rather than k - 1 sequential comparisons.
import { add, concat, reshape, slice, sub } from '../../ops';
import { RingTensor } from '../../tensor/ring_tensor';
import type { OpCtx, Party } from '../party';
import { drelu, fusedRelu } from '../comparison';
import { selectShare } from './relu';

export function treeLevels(k: number): number {
  return k <= 1 ? 0 : Math.ceil(Math.log2(k));
}

/**
 * x: shares of k candidates per position, shape [k, rest]. `ops` holds one op instance per tree
 * level (treeLevels(k)). With `fracBits`, also returns shares of the winning index, in fixed
 * point (ties go to the earlier candidate).
 */
export async function maxTree(p: Party, ops: OpCtx[], x: RingTensor | null, k: number, rest: number, fracBits?: number): Promise<{ max: RingTensor | null; index: RingTensor | null }> {
  const compute = p.isCompute;
  let vals = compute && x ? reshape(x, [k, rest]) : null;
  let idx: RingTensor | null = null;
  if (compute && fracBits !== undefined) {
    // Public indices, held by server0 as its share (server1 holds zeros).
    const v = new BigUint64Array(k * rest);
    if (p.role === 0) for (let i = 0; i < k; i++) v.fill(BigInt(i) << BigInt(fracBits), i * rest, (i + 1) * rest);
    idx = RingTensor.fromBigUint64Array(v, [k, rest]);
  }
  let m = k;
  for (let level = 0; m > 1; level++) {
    const op = ops[level];
    const h = Math.floor(m / 2), n = h * rest;
    // Neighbours are paired (2i with 2i + 1; an odd last one carried), so that each winner comes
    // from a run of candidates before the next one's: left on ties is then the earliest maximum.
    // (Pairing i with i + h kept left on ties too, but the runs interleaved: argmax [1, 5, 5, 1] was 2.)
    const part = async (t: RingTensor | null, b: number, len: number) => (t ? slice(t, [b, 0], [len, rest]) : null);
    const side = async (t: RingTensor | null, which: 0 | 1) => {
      if (!t) return null;
      const pairs = await slice(t, [0, 0], [2 * h, rest]);
      const one = await slice(reshape(pairs, [h, 2, rest]), [0, which, 0], [h, 1, rest]);
      pairs.dispose();
      return reshape(one, [h, rest]);
    };
    const [l, r, carry] = await Promise.all([side(vals, 0), side(vals, 1), m % 2 ? part(vals, 2 * h, 1) : null]);
    const diff = l && r ? await sub(l, r) : null;
    const flat = (t: RingTensor | null) => (t ? reshape(t, [n]) : null);
    // Without indices, a protocol with a relu gate (FSS) takes max(l, r) = r + relu(l - r): one
    // gate per level instead of DReLU then a selection product (one online round, not two). It
    // is exact wherever the comparison is: both read the sign of l - r.
    const gate = fracBits === undefined ? fusedRelu(p) : null;
    // g = [left >= right]: keep left on ties, so the earliest maximum wins.
    const g = gate ? null : await drelu(p, op, diff ? reshape(diff, [n]) : null, n);
    const chosen = gate ? await gatedMax(gate, p, op, diff, flat(r), n) : await selectShare(p, op, g, flat(r), flat(l), n, 60);
    let chosenIdx: RingTensor | null = null;
    let idxCarry: RingTensor | null = null;
    if (fracBits !== undefined) {
      const [il, ir] = await Promise.all([side(idx, 0), side(idx, 1)]);
      idxCarry = m % 2 ? await part(idx, 2 * h, 1) : null;
      chosenIdx = await selectShare(p, op, g, flat(ir), flat(il), n, 63);
      il?.dispose();
      ir?.dispose();
    }
    const next = async (c: RingTensor | null, extra: RingTensor | null) => {
      if (!c) return null;
      const shaped = reshape(c, [h, rest]);
      c.dispose();
      if (!extra) return shaped;
      const joined = await concat([shaped, extra], 0);
      shaped.dispose();
      extra.dispose();
      return joined;
    };
    for (const t of [l, r, diff, g]) t?.dispose();
    vals?.dispose();
    vals = await next(chosen, carry);
    if (fracBits !== undefined) {
      idx?.dispose();
      idx = await next(chosenIdx, idxCarry);
    }
    m = h + (m % 2);
  }
  const out = (t: RingTensor | null) => (t ? reshape(t, [rest]) : null);
  const result = { max: out(vals), index: out(idx) };
  vals?.dispose();
  idx?.dispose();
  return result;
}

/** r + relu(l - r) for flat [n] shares: the maximum of l and r through a relu gate. */
async function gatedMax(gate: NonNullable<ReturnType<typeof fusedRelu>>, p: Party, op: OpCtx, diff: RingTensor | null, r: RingTensor | null, n: number): Promise<RingTensor | null> {
  const flatDiff = diff ? reshape(diff, [n]) : null;
  const rel = await gate(p, op, flatDiff, n);
  flatDiff?.dispose();
  if (!rel || !r) {
    r?.dispose();
    return null;
  }
  const out = await add(rel, r);
  rel.dispose();
  r.dispose();
  return out;
}
