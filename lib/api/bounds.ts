// Bounds on private values known from how they were computed, never from the values: FSS
// compares only as many bits as a gate's inputs can take (lib/protocol/fss/gate_common.ts
// gateBits; docs/fss.md "Gate widths"). A bound B means |v| <= B for the value v read as a signed
// 64-bit ring integer, wherever the truncations before it succeeded (a failed local truncation,
// probability 2^(l+1-64) for a product below 2^l, docs/pond.md, is off by about 2^(64-f) and
// wrong under every protocol). Every party derives the same bounds from the same program and the
// fixed-point settings, so they reveal nothing: no bound depends on an input or a weight.
// Undefined: nothing known (an input, a public operand, an op without a rule here).

/** Bounds of 2^63 and more say nothing about a 64-bit ring value. */
const RING = 1n << 63n;

/** The output of a truncation by f bits: |floor(x / 2^f)| <= 2^(63-f) for any signed 64-bit x, and a truncation is within one unit of it. */
export const truncatedBound = (f: number): bigint => (1n << BigInt(63 - f)) + 1n;

/**
 * x m truncated by t bits, for a public integer m: any ring value so truncated lies within
 * truncatedBound(t); a bounded x within |x| |m| / 2^t and one unit of the truncation.
 */
export function scaledTruncatedBound(b: bigint | undefined, m: bigint, t: number): bigint {
  const wide = truncatedBound(t);
  if (b === undefined) return wide;
  const scaled = ((b * (m < 0n ? -m : m)) >> BigInt(t)) + 1n;
  return scaled < wide ? scaled : wide;
}

/**
 * Model weights in ring units: checkWeightRange refuses |w| >= 2^(62-2f) (2^30 at f = 16), so
 * |round(w 2^f)| <= 2^(62-f); with it a truncated product plus a bias stays below 2^(64-f), and
 * FSS's relu gates after a Dense or Conv2D layer compare 64 - f bits instead of 63.
 */
export const weightBound = (f: number): bigint => 1n << BigInt(62 - f);

const known = (b: bigint): bigint | undefined => (b < RING ? b : undefined);

/** |x + y| <= |x| + |y|: a sum's (or difference's) bound, if both are known. */
export function sumBound(...bs: (bigint | undefined)[]): bigint | undefined {
  if (bs.some((b) => b === undefined)) return undefined;
  return known((bs as bigint[]).reduce((s, b) => s + b, 0n));
}

/** k values of bound b summed (reduceSum over k elements). */
export const timesBound = (b: bigint | undefined, k: number): bigint | undefined => (b === undefined ? undefined : known(b * BigInt(k)));

/** A value that is one of the given ones (concat, a maximum): the largest bound, if all are known. */
export function maxBound(...bs: (bigint | undefined)[]): bigint | undefined {
  if (bs.some((b) => b === undefined)) return undefined;
  return (bs as bigint[]).reduce((m, b) => (b > m ? b : m), 0n);
}

/**
 * Refuses model weights of magnitude 2^(62-2f) or more (2^30, about 1.07e9, at f = 16), naming
 * the weight and the element: multiplied by 2.0 such a weight overflows the ring (the product
 * carries 2f fractional bits), and by 1.0 its local truncation fails half the time, so no protocol
 * computes with it; and below it weightBound holds.
 */
export function checkWeightRange(params: readonly { name?: string; data: ArrayLike<number> }[], fracBits: number, where: string): void {
  const limit = 2 ** (62 - 2 * fracBits);
  params.forEach((w, i) => {
    for (let j = 0; j < w.data.length; j++)
      // Written so NaN fails too (NaN >= limit is false): no fixed-point value encodes it.
      if (!(Math.abs(w.data[j]) < limit))
        throw new RangeError(`${where}: weight ${w.name ? `'${w.name}'` : i} element ${j} is ${w.data[j]}: model weights must be below 2^${62 - 2 * fracBits} (${limit}) in magnitude at ${fracBits} fractional bits (larger ones overflow the ring in products)`);
  });
}
