// A private token's vocabulary column from the owner's bucket table (bucket_table.ts), for a
// vocabulary too large to test every entry (layers_lookup.ts). Per token, in five rounds:
// 1. one-hot rows of the token's bucket, from its id's low bits (sharedOneHots: one opening of a
//    uniform distance): q, the bucket's block, and p, its place in blocks q and q + 1;
// 2. blocks q and q + 1 of the table: a private product of q's one-hot and the table (the table is
//    a deployed weight, masked once per setup: each query opens 2^hiBits values per token);
// 3. the bucket: p's one-hot times those two blocks (2^(loBits + 1) buckets' values opened);
// 4. the slots' ids against the token's: one equality test per slot;
// 5. the column: the empty slot's column (OOV's) plus each slot's [id = token] times its column
//    less that; then, as the equality tests' form gives, the column's one-hot row (columnOneHot).
// Each step is a product, an equality test or sharedOneHots' opening: what each server receives
// there is uniform (those modules' notes), and the table's layout is public (the vocabulary's size
// alone). The one-hot rows hold the ring's 1, so the products need no truncation: exact. A read
// of few rows takes steps 2 and 3 as one product (row_blocks.ts readsOneLevel): a round fewer.
// fusedRows reads an Embedding's rows in the same steps, from a table whose slots hold the rows
// (fused_table.ts): step 5 is then the row's product, and there is no column to open.
import { oneHotsWidth, sharedOneHots } from '../protocol/shared_one_hot';
import { mulScalar } from '../ops';
import { type BucketLayout, SLOT_VALUES } from './bucket_table';
import { equalZeroWhole, nonNegativeOp } from './comparison_ops';
import { add, concat, reduceSum, reshape, slice, sub } from './ops';
import { mul, run, unscaledProductOp } from './ops_nonlinear';
import { fusedSlotValues } from './fused_table';
import { readsOneLevel } from './row_blocks';
import { ID_HALF, STRING_ID_BITS } from './string_ids';
import { type AnyTensor, PrivateTensor } from './tensor';

/**
 * sharedOneHots on flat [n] whole numbers x: [n, oneHotsWidth] in ring units (not fixed point),
 * or `fixed`, times 2^f (fixed point's one-hot) within the same op: an op id is taken when the op
 * is defined, never when shares arrive (the servers must number their ops alike).
 */
function oneHots(x: PrivateTensor, hiBits: number, loBits: number, { fixed = false, fraction = false } = {}): PrivateTensor {
  const c = x.cluster, n = x.shape.reduce((a, d) => a * d, 1), f = BigInt(c.fixed.fracBits);
  const shares = run(c, 'oneHot', [x.shares], async (p, o, [s]) => {
    const u = await sharedOneHots(p, o, (s as never) ?? null, n, hiBits, loBits, fraction);
    if (!fixed || !u) return u;
    try {
      return await mulScalar(u, 1n << f);
    } finally {
      u.dispose();
    }
  }, (p, o) => sharedOneHots(p, o, null, n, hiBits, loBits, fraction));
  return new PrivateTensor(c, [n, oneHotsWidth(hiBits, loBits)], shares);
}

/** Fixed point's one-hot rows [n, width] of flat [n] whole numbers in [0, width). */
export function columnOneHot(x: PrivateTensor, width: number): PrivateTensor {
  const bits = Math.max(1, Math.ceil(Math.log2(width)));
  const full = oneHots(x, bits, 0, { fixed: true });
  return 2 ** bits === width ? full : (slice(full, [0, 0], [full.shape[0], width]) as PrivateTensor);
}

/**
 * Row x of a table of 2^(hiBits + loBits) rows of `w` values each, for flat [n] private whole
 * numbers x (steps 1 to 3 above): `table` the private weight [2^hiBits, 2^loBits w] (blocks of
 * 2^loBits rows). [n, w], exact. `pair`: x may carry fractions (sharedOneHots' `fraction`): rows
 * floor(x) - c and the one after it (c in {0, 1}, unknown), [n, 2, w], one of which is floor(x)'s.
 * Few rows (readsOneLevel) are read in one level: steps 2 and 3 as one product, a round fewer.
 */
export function tableRows(x: PrivateTensor, table: PrivateTensor, hiBits: number, loBits: number, w: number, pair = false): PrivateTensor {
  const n = x.shape.reduce((a, d) => a * d, 1), flat = reshape(x, [n]) as PrivateTensor;
  const oneLevel = readsOneLevel(n, hiBits, loBits, w, pair);
  // One level: one block per row (the table read as [2^k, w] by the product itself, rowsMatmul).
  const [hi, lo] = oneLevel ? [hiBits + loBits, 0] : [hiBits, loBits];
  const H = 2 ** hi, L = 2 ** lo;
  const rows = oneHots(flat, hi, lo, { fraction: pair });
  const q = slice(rows, [0, 0], [n, H]) as PrivateTensor;
  const read = (e: PrivateTensor, m: number) => (oneLevel ? unscaledProductOp('rowsMatmul', { kind: 'rowsMatmul', rows: H }, e, table, [m, w]) : unscaledProductOp('matmul', { kind: 'matmul' }, e, table, [m, L * w]));
  if (lo === 0 && !pair) return read(q, n);
  // q + 1's one-hot is q's rotated by one column (public: local).
  const next = concat([slice(q, [0, H - 1], [n, 1]), slice(q, [0, 0], [n, H - 1])], 1) as PrivateTensor;
  const blocks = read(concat([q, next], 0) as PrivateTensor, 2 * n);
  // One row per block: x's row is q's row of the table (and the next row q + 1's).
  if (lo === 0) return concat([reshape(slice(blocks, [0, 0], [n, w]), [n, 1, w]), reshape(slice(blocks, [n, 0], [n, w]), [n, 1, w])], 1) as PrivateTensor;
  const window = concat([reshape(slice(blocks, [0, 0], [n, L * w]), [n, L, w]), reshape(slice(blocks, [n, 0], [n, L * w]), [n, L, w])], 1) as PrivateTensor;
  const p = slice(rows, [0, H], [n, 2 * L]) as PrivateTensor;
  // The place after p: p's one-hot shifted by one column (p <= 2L - 2: no wrap, local).
  const places = pair ? reshape(concat([p, concat([slice(p, [0, 2 * L - 1], [n, 1]), slice(p, [0, 0], [n, 2 * L - 1])], 1)], 1), [n, 2, 2 * L]) : reshape(p, [n, 1, 2 * L]);
  const bucket = unscaledProductOp('matmul', { kind: 'matmul' }, places as PrivateTensor, window, [n, pair ? 2 : 1, w]);
  return (pair ? bucket : reshape(bucket, [n, w])) as PrivateTensor;
}

/**
 * The vocabulary column of each of `ids` (flat [n] shares of strings' ids) from `table` (the
 * private weight [2^hiBits, 2^loBits slots SLOT_VALUES] of `layout`), or `emptyColumn` (OOV's)
 * for an id the table does not hold: flat [n], whole numbers in fixed point.
 *
 * `codes`: IntegerLookup's integer codes, which may carry fractions (Keras casts them): the
 * distance's fraction bits stay masked (sharedOneHots' `fraction`), so two buckets are read, the
 * carry's and the one after it, and an entry v holds x when v <= x < v + 1: [x - v >= 0] -
 * [x - v - 1 >= 0], two comparisons per slot (layers_lookup.ts indicators, which reads a
 * negative fraction as floor(x)'s entry, as here). At most one slot of the two buckets holds x:
 * the other bucket's ids differ from floor(x) mod 2^bits.
 */
export function tableColumns(ids: PrivateTensor, table: PrivateTensor, layout: BucketLayout, emptyColumn: number, codes = false): AnyTensor {
  const n = ids.shape.reduce((a, d) => a * d, 1), flat = reshape(ids, [n]) as PrivateTensor;
  const S = layout.slots * (codes ? 2 : 1);
  const bucket = tableRows(flat, table, layout.hiBits, layout.loBits, layout.slots * SLOT_VALUES, codes);
  const slots = reshape(bucket, [n, S, SLOT_VALUES]);
  const field = (k: number) => reshape(slice(slots, [0, 0, k], [n, S, 1]), [n, S]);
  const unit = slotMatches(flat, field(0), field(1), codes);
  const gain = unscaledProductOp('mul', { kind: 'mul' }, unit, sub(field(2), emptyColumn) as PrivateTensor, [n, S]);
  return add(reduceSum(gain, 1), emptyColumn);
}

/**
 * [slot holds x] per value and slot, in ring units ([n, S]), for flat [n] x and the slots' ids as
 * their halves [n, S] (hi 2^23 + lo): one equality test per slot for strings' whole ids; for
 * `codes`, [v <= x < v + 1], two comparisons (tableColumns).
 */
function slotMatches(flat: PrivateTensor, hi: AnyTensor, lo: AnyTensor, codes: boolean): PrivateTensor {
  const c = flat.cluster, [n, S] = hi.shape;
  // Ids below 2^46, an empty slot's below 2^47: differences within 2^47 (those of a code beyond
  // fixed point's range aside: its owner's own garbage), whole for strings (equalZeroWhole).
  const d = sub(reshape(flat, [n, 1]), add(mul(hi, ID_HALF), lo)) as PrivateTensor;
  const bound = BigInt(2) ** BigInt(STRING_ID_BITS + 1 + c.fixed.fracBits);
  const eq = c.internalOps(() => {
    if (!codes) return equalZeroWhole(d.withBound(bound));
    const g = nonNegativeOp((concat([d, sub(d, 1)], 1) as PrivateTensor).withBound(bound));
    return sub(slice(g, [0, 0], [n, S]), slice(g, [0, S], [n, S]));
  });
  // In ring units: a fixed-point 0 or 1 truncated by f bits (exact but for the local
  // truncation's wrap, 2^(f + 1 - 64)), so its product with a column or a row is exact.
  return mul(eq, 2 ** -c.fixed.fracBits) as PrivateTensor;
}

/**
 * Rows [n, d] of the Embedding a lookup feeds, read with the lookup's own read from their fused
 * table (fused_table.ts: `table` the private weight [2^split.hiBits, 2^split.loBits slots (2 + d)]
 * of the lookup's `layout`), and `oov` [d], the row of the lookup's empty column: steps 1 to 4 of
 * tableColumns, then the row = oov + sum over slots of [slot holds x] (its row - oov), one product.
 * What each server receives is what those steps send (sharedOneHots' uniform opening, Beaver
 * products with the fused table, a deployed weight masked once per setup, the slots' tests): no
 * step of its own.
 */
export function fusedRows(ids: PrivateTensor, table: PrivateTensor, oov: PrivateTensor, layout: BucketLayout, split: { hiBits: number; loBits: number }, d: number, codes = false): PrivateTensor {
  const n = ids.shape.reduce((a, k) => a * k, 1), flat = reshape(ids, [n]) as PrivateTensor;
  const S = layout.slots * (codes ? 2 : 1), w = fusedSlotValues(d);
  const slots = reshape(tableRows(flat, table, split.hiBits, split.loBits, layout.slots * w, codes), [n, S, w]);
  const field = (k: number) => reshape(slice(slots, [0, 0, k], [n, S, 1]), [n, S]);
  const unit = slotMatches(flat, field(0), field(1), codes);
  const rows = sub(slice(slots, [0, 0, 2], [n, S, d]), reshape(oov, [1, 1, d])) as PrivateTensor;
  const gain = unscaledProductOp('matmul', { kind: 'matmul' }, reshape(unit, [n, 1, S]) as PrivateTensor, rows, [n, 1, d]);
  return add(reshape(gain, [n, d]), reshape(oov, [1, d])) as PrivateTensor;
}
