// Z_2^64 arithmetic and fixed-point encoding in the browser, bit for bit as the native kernels
// (native/src/kernels/fixed_point.cc): x -> nearbyint(x * 2^f) in two's complement (ties to
// even), and back as double(int64) * 2^-f. BigUint64Array stores wrap modulo 2^64 by definition,
// so a - b on its elements is ring subtraction.

/** Round half to even, as C's nearbyint under the default rounding mode. */
function nearbyint(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function encodeFixed(x: ArrayLike<number>, fracBits: number): BigUint64Array {
  const scale = 2 ** fracBits, limit = 2 ** 63;
  const out = new BigUint64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = nearbyint(x[i] * scale);
    if (!(v >= -limit && v < limit)) {
      if (Number.isNaN(x[i])) throw new RangeError(`NaN at index ${i} cannot be encoded`);
      if (!Number.isFinite(x[i])) throw new RangeError(`${x[i] > 0 ? '+' : '-'}Infinity at index ${i} cannot be encoded`);
      throw new RangeError(`value ${x[i]} at index ${i} is outside the representable range [-2^${63 - fracBits}, 2^${63 - fracBits}) for ${fracBits} fractional bits`);
    }
    out[i] = BigInt(v); // wraps negatives to two's complement
  }
  return out;
}

export function decodeFixed(x: BigUint64Array, fracBits: number): Float64Array {
  const inv = 2 ** -fracBits;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Number(BigInt.asIntN(64, x[i])) * inv;
  return out;
}

export function sub(a: BigUint64Array, b: BigUint64Array): BigUint64Array {
  const out = new BigUint64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

export function add(a: BigUint64Array, b: BigUint64Array): BigUint64Array {
  const out = new BigUint64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** Ring elements as the wire carries them: 8 bytes each, little-endian (whatever the platform's order). */
export function toBytes(x: BigUint64Array): Uint8Array {
  const out = new Uint8Array(x.length * 8);
  const v = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) v.setBigUint64(8 * i, x[i], true);
  return out;
}

export function fromBytes(b: Uint8Array): BigUint64Array {
  if (b.byteLength % 8) throw new Error(`${b.byteLength} bytes are not whole ring64 elements`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new BigUint64Array(b.byteLength / 8);
  for (let i = 0; i < out.length; i++) out[i] = v.getBigUint64(8 * i, true);
  return out;
}
