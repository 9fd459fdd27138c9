// A table of rows (an Embedding's [V, d]) laid out in blocks for a private row read
// (table_read.ts tableRows): 2^hiBits blocks of 2^loBits rows, the rows past V zero. A read opens
// 2^(hiBits+1) values per row read and then 2^(loBits+1) (d + 1), so the split minimises
// 2 * 2^hiBits + 2 * 2^loBits (d + 1) over the splits of the rows' bits. The owner makes the
// blocks from the weight (layers_spec.ts Derivation 'rowBlocks'); the layout is public (V and d).
// A read of few rows takes one level instead (readsOneLevel: the blocks read as rows), a round fewer.

export interface RowBlocks {
  hiBits: number;
  loBits: number;
}

/** The split of ceil(log2(rows)) bits for rows of `width` values (see the header). */
export function rowBlocksLayout(rows: number, width: number): RowBlocks {
  const bits = Math.max(1, Math.ceil(Math.log2(rows)));
  let best = { hiBits: bits, loBits: 0, cost: Infinity };
  for (let hi = 1; hi <= bits; hi++) {
    const cost = 2 * 2 ** hi + 2 * 2 ** (bits - hi) * (width + 1);
    if (cost < best.cost) best = { hiBits: hi, loBits: bits - hi, cost };
  }
  return { hiBits: best.hiBits, loBits: best.loBits };
}

/** The blocks' shape: [2^hiBits, 2^loBits width]. */
export const rowBlocksShape = (b: RowBlocks, width: number): [number, number] => [2 ** b.hiBits, 2 ** b.loBits * width];

/** The table [rows, width] (row-major) as its blocks, zeros past its rows: a copy padded to 2^(hiBits + loBits) rows. */
export function toRowBlocks(table: ArrayLike<number>, rows: number, width: number, b: RowBlocks): Float64Array {
  const out = new Float64Array(2 ** (b.hiBits + b.loBits) * width);
  for (let i = 0; i < rows * width; i++) out[i] = table[i];
  return out;
}

/**
 * Values worth one round trip: a read opens up to this many more to take one round fewer (one
 * level instead of two: 256 KiB per server, under 10 ms at 300 Mbit/s where a round is tens of
 * ms on a WAN, and about a round's time at 10 Gbit/s).
 */
export const ROUND_VALUES = 2 ** 15;

/**
 * Whether a read of n rows of `w` values (pair: n pairs) from 2^(hiBits + loBits) rows in blocks
 * of 2^loBits takes one level: the one-hot rows over every row at once, one product with the
 * table read as rows, where that moves at most ROUND_VALUES more values than the two levels. Per
 * row read, one level deals a one-hot row of 2^k and opens it (twice for a pair); two levels deal
 * 2^hiBits + 2^(loBits+1), open 2^(hiBits+1) for the blocks, then 2^(loBits+1) (pair: twice) and
 * 2^(loBits+1) w for the window. A public function of public shapes: every party decides alike.
 */
export function readsOneLevel(n: number, hiBits: number, loBits: number, w: number, pair = false): boolean {
  if (loBits === 0) return true;
  const k = pair ? 2 : 1, H = 2 ** hiBits, L = 2 ** loBits;
  const one = n * (1 + k) * H * L, two = n * (3 * H + 2 * L + 2 * L * (k + w));
  return one <= two + ROUND_VALUES;
}
