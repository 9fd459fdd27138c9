// DCF keys are stored in tiles of 8 elements (native/src/fss/dcf.h "Tiles"): in a tile of r
// elements starting at element 8i (word 8Ki), word w of its j-th element is at 8Ki + wr + j.
// The tests read keys element by element, so they convert with these (written from the layout's
// description, not from the kernels).

const TILE = 8;

/** Element e's word w: its index in rows (e K + w) and in tiles. */
function* wordPlaces(n: number, K: number): Generator<[number, number]> {
  for (let base = 0; base < n; base += TILE) {
    const r = Math.min(TILE, n - base);
    for (let j = 0; j < r; j++) for (let w = 0; w < K; w++) yield [(base + j) * K + w, base * K + w * r + j];
  }
}

function wholeKeys(words: number, K: number, what: string): number {
  const n = words / K;
  if (!Number.isInteger(n)) throw new Error(`${what}: ${words} words are not whole keys of ${K} words`);
  return n;
}

/** A tiled key's words [n * K] as rows: element e's word w at e * K + w. */
export function keyRows(tiled: readonly bigint[], K: number): bigint[] {
  const rows = new Array<bigint>(tiled.length);
  for (const [row, tile] of wordPlaces(wholeKeys(tiled.length, K, 'keyRows'), K)) rows[row] = tiled[tile];
  return rows;
}

/** The inverse of keyRows: rows [n * K] back to the tiled layout the kernels read. */
export function tileRows(rows: readonly bigint[], K: number): bigint[] {
  const tiled = new Array<bigint>(rows.length);
  for (const [row, tile] of wordPlaces(wholeKeys(rows.length, K, 'tileRows'), K)) tiled[tile] = rows[row];
  return tiled;
}

/** keyRows on a key's bytes (8 per word, as the wire carries them). */
export function keyRowsBytes(tiled: Uint8Array, K: number): Uint8Array {
  const rows = new Uint8Array(tiled.length);
  for (const [row, tile] of wordPlaces(wholeKeys(tiled.length / 8, K, 'keyRowsBytes'), K)) rows.set(tiled.subarray(tile * 8, tile * 8 + 8), row * 8);
  return rows;
}
