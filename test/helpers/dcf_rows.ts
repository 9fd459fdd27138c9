// DCF keys are stored in tiles of 8 elements (native/src/fss/dcf.h "Tiles"): in a tile of r
// elements starting at element 8i (word 8Ki), word w of its j-th element is at 8Ki + wr + j.
// The tests read keys element by element, so they convert with these (written from the layout's
// description, not from the kernels).

const TILE = 8;

/** A tiled key's words [n * K] as rows: element e's word w at e * K + w. */
export function keyRows(tiled: readonly bigint[], K: number): bigint[] {
  const n = tiled.length / K;
  if (!Number.isInteger(n)) throw new Error(`keyRows: ${tiled.length} words are not whole keys of ${K} words`);
  const rows = new Array<bigint>(tiled.length);
  for (let base = 0; base < n; base += TILE) {
    const r = Math.min(TILE, n - base);
    for (let j = 0; j < r; j++) for (let w = 0; w < K; w++) rows[(base + j) * K + w] = tiled[base * K + w * r + j];
  }
  return rows;
}

/** The inverse of keyRows: rows [n * K] back to the tiled layout the kernels read. */
export function tileRows(rows: readonly bigint[], K: number): bigint[] {
  const n = rows.length / K;
  if (!Number.isInteger(n)) throw new Error(`tileRows: ${rows.length} words are not whole keys of ${K} words`);
  const tiled = new Array<bigint>(rows.length);
  for (let base = 0; base < n; base += TILE) {
    const r = Math.min(TILE, n - base);
    for (let j = 0; j < r; j++) for (let w = 0; w < K; w++) tiled[base * K + w * r + j] = rows[(base + j) * K + w];
  }
  return tiled;
}

/** keyRows on a key's bytes (8 per word, as the wire carries them). */
export function keyRowsBytes(tiled: Uint8Array, K: number): Uint8Array {
  const n = tiled.length / (8 * K);
  if (!Number.isInteger(n)) throw new Error(`keyRowsBytes: ${tiled.length} bytes are not whole keys of ${K} words`);
  const rows = new Uint8Array(tiled.length);
  for (let base = 0; base < n; base += TILE) {
    const r = Math.min(TILE, n - base);
    for (let j = 0; j < r; j++)
      for (let w = 0; w < K; w++) {
        const from = (base * K + w * r + j) * 8, to = ((base + j) * K + w) * 8;
        rows.set(tiled.subarray(from, from + 8), to);
      }
  }
  return rows;
}
