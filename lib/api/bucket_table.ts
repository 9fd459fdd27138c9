// A large vocabulary (strings' ids, or IntegerLookup's integer codes) as a hash table of buckets,
// which the servers read at a private token's bucket (table_read.ts) instead of testing the token
// against every entry. The bucket of an id is its low k bits (string_ids.ts: FNV-1a's low bits, as
// even on real words as a random hash's; a code's own low bits, two's complement for a negative
// one: consecutive codes fill buckets one each), so a client sends what it always sent, and the
// servers take the bucket from their shares of it. The layout (buckets, slots per bucket, the split into blocks) is a public
// function of the vocabulary's size alone; only a vocabulary whose ids crowd one bucket beyond its
// slots (for ids like a random hash's, probability below 2^-20) keeps the equality tests, which
// the owner's reader decides (config_constants.ts) before anything reaches a server. Imports
// nothing of the library's runtime: the owner's reader and the plaintext reference use it.

/** Vocabularies of at least this many entries are read as a table (fewer: an equality test per entry, one round, cheaper in rounds and about even in bytes). */
export const TABLE_FROM_ENTRIES = 256;
/** The library's config key marking a vocabulary moved into a bucket table (its weight 'vocabulary_table'): public, as the vocabulary's size is. */
export const VOCABULARY_TABLE = 'vocabulary_table';
/** Values per slot: the entry's id as two halves (hi 2^23 + lo, as float32 holds them) and its output column. */
export const SLOT_VALUES = 3;
/** An empty slot's id: its bucket plus this, above every string's id (2^46), so no token matches it. */
export const EMPTY_ID_OFFSET = 2 ** 46;
const HALF = 2 ** 23;
/** The chance, for ids like a random hash's, that some bucket holds more than its slots. */
const OVERFLOW_CHANCE = 2 ** -20;

export interface BucketLayout {
  /** 2^bits buckets: a token's bucket is its id mod 2^bits. */
  bits: number;
  /** Buckets laid out as 2^hiBits blocks of 2^loBits (the servers read two blocks, then one bucket). */
  hiBits: number;
  loBits: number;
  /** Slots per bucket. */
  slots: number;
}

/** P(X > s) for X Poisson with mean lambda, from the tail's own terms (no cancellation). */
function poissonTail(lambda: number, s: number): number {
  let term = Math.exp(-lambda);
  for (let i = 1; i <= s + 1; i++) term *= lambda / i;
  let sum = 0;
  for (let i = s + 1; i < s + 200 && term > 0; i++) {
    sum += term;
    term *= lambda / (i + 1);
  }
  return sum;
}

/**
 * The layout for `ids` stored ids (the vocabulary's entries and the mask token's): at least as many
 * buckets, slots enough that no bucket overflows but with probability OVERFLOW_CHANCE, and the
 * split into blocks that opens the fewest values per token (two block rows, 2^hiBits each, then
 * the window of two blocks, 2^(loBits + 1) buckets of `slots` slots: table_read.ts).
 */
export function bucketLayout(ids: number): BucketLayout {
  const bits = Math.max(2, Math.ceil(Math.log2(ids)));
  const buckets = 2 ** bits, lambda = ids / buckets;
  let slots = 1;
  while (buckets * poissonTail(lambda, slots) > OVERFLOW_CHANCE) slots++;
  let best = { hiBits: bits, cost: Infinity };
  for (let hi = 1; hi <= bits; hi++) {
    const cost = 2 * 2 ** hi + 2 * 2 ** (bits - hi) * (1 + SLOT_VALUES * slots);
    if (cost < best.cost) best = { hiBits: hi, cost };
  }
  return { bits, hiBits: best.hiBits, loBits: bits - best.hiBits, slots };
}

/** The table weight's shape: [blocks, the values of a block's buckets]. */
export const tableShape = (t: BucketLayout): [number, number] => [2 ** t.hiBits, 2 ** t.loBits * t.slots * SLOT_VALUES];

/**
 * The table [blocks, buckets per block, slots, SLOT_VALUES] (flat, float32-exact values) of whole
 * ids of magnitude below 2^46 and their output columns; empty slots hold EMPTY_ID_OFFSET + bucket and
 * `emptyColumn`. null when some bucket would hold more than its slots.
 */
export function buildBucketTable(ids: readonly number[], columns: readonly number[], emptyColumn: number, t: BucketLayout): Float32Array | null {
  const buckets = 2 ** t.bits, width = t.slots * SLOT_VALUES;
  const table = new Float32Array(buckets * width), used = new Uint8Array(buckets);
  const put = (b: number, s: number, id: number, column: number) => {
    const at = b * width + s * SLOT_VALUES;
    table[at] = Math.floor(id / HALF);
    table[at + 1] = id - Math.floor(id / HALF) * HALF;
    table[at + 2] = column;
  };
  for (let j = 0; j < ids.length; j++) {
    // Non-negative: a negative code's bucket is its low bits in two's complement, as the servers take it.
    const b = ((ids[j] % buckets) + buckets) % buckets;
    if (used[b] === t.slots) return null;
    put(b, used[b]++, ids[j], columns[j]);
  }
  for (let b = 0; b < buckets; b++) for (let s = used[b]; s < t.slots; s++) put(b, s, EMPTY_ID_OFFSET + b, emptyColumn);
  return table;
}

/** The ids and columns a table holds (its entries, empty slots left out): the plaintext reference reads a vocabulary so. */
export function tableEntries(table: ArrayLike<number>): { id: number; column: number }[] {
  const out: { id: number; column: number }[] = [];
  for (let at = 0; at < table.length; at += SLOT_VALUES) {
    const id = table[at] * HALF + table[at + 1];
    if (id < EMPTY_ID_OFFSET) out.push({ id, column: table[at + 2] });
  }
  return out;
}
