// A table of rows (an Embedding's [V, d]) laid out in blocks for a private row read
// (table_read.ts tableRows): 2^hiBits blocks of 2^loBits rows, the rows past V zero. A read opens
// 2^(hiBits+1) values per row read and then 2^(loBits+1) (d + 1), so the split minimises
// 2 * 2^hiBits + 2 * 2^loBits (d + 1) over the splits of the rows' bits. The owner makes the
// blocks from the weight (layers_spec.ts Derivation 'rowBlocks'); the layout is public (V and d).

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
