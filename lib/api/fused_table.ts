// A lookup's bucket table and the Embedding that reads its ids, as one table (table_read.ts
// fusedRows): each slot holds its id and, instead of its output column, the Embedding's row at
// that column. The servers then read a value's row in the lookup's own read, with no column to
// make and open between the two (two rounds fewer), at the price of wider slots (2 + d values
// instead of 3). Taken where both are read for few values per example (structured data's ids, a
// short text's tokens: layers_embedding.ts fusedReads); longer texts keep the two reads. The owner builds it (layers_spec.ts
// Derivation 'fusedTable'); its layout is public (the vocabulary's size and the Embedding's shape).
// Imports nothing of the library's runtime: the owner's side and the plaintext reference use it.
import { type BucketLayout, EMPTY_ID_OFFSET, SLOT_VALUES } from './bucket_table';

/** Values per slot of a fused table with rows of `d` values: the id's two halves, then the row. */
export const fusedSlotValues = (d: number): number => 2 + d;

/** The split of the buckets' bits into blocks for a fused table (as bucketLayout's, for its wider slots). */
export function fusedSplit(t: BucketLayout, d: number): { hiBits: number; loBits: number } {
  let best = { hiBits: t.bits, loBits: 0, cost: Infinity };
  for (let hi = 1; hi <= t.bits; hi++) {
    const cost = 2 * 2 ** hi + 2 * 2 ** (t.bits - hi) * (1 + t.slots * fusedSlotValues(d));
    if (cost < best.cost) best = { hiBits: hi, loBits: t.bits - hi, cost };
  }
  return { hiBits: best.hiBits, loBits: best.loBits };
}

/** The fused table's shape: [blocks, the values of a block's buckets]. */
export function fusedShape(t: BucketLayout, d: number): [number, number] {
  const s = fusedSplit(t, d);
  return [2 ** s.hiBits, 2 ** s.loBits * t.slots * fusedSlotValues(d)];
}

/**
 * The fused table from a bucket table (bucket_table.ts buildBucketTable's values: per bucket and
 * slot an id's halves and its column) and the Embedding's table [rows, d]: per slot the halves and
 * row `column` of the table, buckets in order (the blocks are their row-major runs).
 */
export function fuseTables(vocabulary: ArrayLike<number>, t: Pick<BucketLayout, 'bits' | 'slots'>, embeddings: ArrayLike<number>, rows: number, d: number): Float64Array {
  const slots = 2 ** t.bits * t.slots, width = fusedSlotValues(d);
  if (vocabulary.length !== slots * SLOT_VALUES) throw new Error(`fuseTables: a bucket table of ${vocabulary.length} values, expected ${slots * SLOT_VALUES}`);
  const out = new Float64Array(slots * width);
  for (let s = 0; s < slots; s++) {
    const column = vocabulary[s * SLOT_VALUES + 2];
    if (!(Number.isInteger(column) && column >= 0 && column < rows)) throw new Error(`fuseTables: slot ${s}'s column ${column} is not a row of the Embedding's ${rows}`);
    out[s * width] = vocabulary[s * SLOT_VALUES];
    out[s * width + 1] = vocabulary[s * SLOT_VALUES + 1];
    for (let j = 0; j < d; j++) out[s * width + 2 + j] = embeddings[column * d + j];
  }
  return out;
}

/** The rows a fused table holds by id (its empty slots left out): the plaintext reference reads it so. */
export function fusedEntries(table: ArrayLike<number>, d: number): Map<number, ArrayLike<number>> {
  const out = new Map<number, ArrayLike<number>>(), w = fusedSlotValues(d);
  for (let at = 0; at + w <= table.length; at += w) {
    const id = table[at] * 2 ** 23 + table[at + 1];
    if (id < EMPTY_ID_OFFSET) out.set(id, Array.prototype.slice.call(table, at + 2, at + w) as number[]);
  }
  return out;
}
