// Strings as the numbers the servers compare. A model input of dtype string (read by StringLookup)
// reaches the servers as one whole number per string, its id: the low 46 bits of the string's
// 64-bit FNV-1a hash over its UTF-8 bytes. The input owner (a client) computes it on its own
// strings; the model owner computes its vocabulary's the same way and shares them as private
// weights (config_constants.ts), so the servers see neither the strings nor the vocabulary, and
// StringLookup compares ids exactly as IntegerLookup compares codes (layers_lookup.ts).
//
// Why 46 bits: a whole number x is shared as x 2^16 in the ring of 2^64, and comparisons read the
// sign, so ids stay below 2^46 (differences of two ids below 2^47, encoded below 2^63). Two
// different strings share an id with probability 2^-46: a string outside a vocabulary of m entries
// is taken for one of them with probability m 2^-46 (3e-11 at m = 2000), and two vocabulary
// entries sharing one are refused when the model is read. A float32 weight holds integers up to
// 2^24 exactly, so each vocabulary id travels as two 23-bit halves (hi 2^23 + lo), joined
// privately by an exact integer product. No Node module here: the browser bundle imports it.

/** Bits of a string's id. */
export const STRING_ID_BITS = 46;
const HALF = 2 ** 23;

const FNV_OFFSET = 0xcbf29ce484222325n, FNV_PRIME = 0x100000001b3n, MASK64 = (1n << 64n) - 1n;
const utf8 = new TextEncoder();

/** The id of `s`: the low 46 bits of FNV-1a 64 over its UTF-8 bytes, a whole number below 2^46. */
export function stringId(s: string): number {
  let h = FNV_OFFSET;
  for (const b of utf8.encode(s)) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return Number(h & ((1n << BigInt(STRING_ID_BITS)) - 1n));
}

/** An id as the two halves a float32 weight holds exactly: id = hi 2^23 + lo. */
export function idHalves(id: number): [number, number] {
  return [Math.floor(id / HALF), id % HALF];
}

/** The multiplier of the high half when the halves are joined (privately: an exact integer product). */
export const ID_HALF = HALF;

/**
 * Strings (nested arrays of them, or {data, shape} with them laid out flat, as a client gives a
 * string input) as the numbers `toNumber` makes of them (their ids, or a Hashing's bins), in the
 * same form; anything but a string there is refused, naming where it is and what the input `takes`.
 */
export function stringsToNumbers(v: unknown, what: string, toNumber: (s: string) => number, takes: string, at: number[] = []): unknown {
  if (typeof v === 'string') return toNumber(v);
  const o = v as { data?: unknown; shape?: unknown };
  if (at.length === 0 && o && typeof o === 'object' && !Array.isArray(o) && Array.isArray(o.data) && Array.isArray(o.shape))
    return { data: Float64Array.from(o.data.map((e, i) => stringsToNumbers(e, what, toNumber, takes, [i]) as number)), shape: o.shape };
  if (Array.isArray(v)) return v.map((e, i) => stringsToNumbers(e, what, toNumber, takes, [...at, i]));
  throw new TypeError(`${what}: ${takes}, got ${typeof v === 'number' ? `the number ${v}` : describe(v)} at index [${at.join(', ')}]`);
}

/** A string input's strings as their ids (StringLookup reads them). */
export const stringsToIds = (v: unknown, what: string): unknown => stringsToNumbers(v, what, stringId, 'this input takes strings (it is read by a StringLookup layer)');

const describe = (v: unknown): string => (v === null ? 'null' : ArrayBuffer.isView(v) ? 'a typed array' : typeof v);

/** Whether `v` is a string or nested arrays holding one (a string input's form). */
export function holdsStrings(v: unknown): boolean {
  let e: unknown = v && typeof v === 'object' && !Array.isArray(v) && Array.isArray((v as { data?: unknown }).data) ? (v as { data: unknown[] }).data : v;
  while (Array.isArray(e) && e.length > 0) e = e[0];
  return typeof e === 'string';
}
