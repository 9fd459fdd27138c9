// A Keras Hashing layer's bin of a value (layers_hashing.ts), as its input's owner computes it on
// its own values before sharing them: a float cast to int64 (towards zero), a number written in
// decimal, then FarmHash's Fingerprint64 of the UTF-8 bytes (with a salt: SipHash-2-4 keyed by
// it) modulo num_bins, bin 0 kept for the mask_value when there is one. Imports nothing but the
// two hashes: the browser bundle includes it.
import { fingerprint64 } from './farmhash';
import { sipHash24 } from './siphash';

/** What a client needs to hash an input's values (ModelInput.hashing): public settings of the layer. */
export interface HashingSpec {
  numBins: number;
  maskValue: string | number | null;
  /** Keras's salt as the key of SipHash-2-4 (tf.strings.to_hash_bucket_strong), or null: FarmHash's Fingerprint64. */
  salt: [number, number] | null;
}

/** At most this many bins: each hashed value is shared one-hot over them. */
export const MAX_HASH_BINS = 2 ** 24;
const utf8 = new TextEncoder();

/** The bin of one value, as Keras's Hashing gives it (see the header). */
export function hashBin(v: string | number, spec: HashingSpec, what: string): number {
  if (spec.maskValue !== null && v === spec.maskValue) return 0;
  let text: string;
  if (typeof v === 'string') text = v;
  else {
    if (!Number.isFinite(v) || Math.abs(v) >= 2 ** 63) throw new RangeError(`${what}: ${v} is not a number an int64 holds (Hashing casts its values to int64)`);
    text = BigInt(Math.trunc(v)).toString();
  }
  const bins = spec.maskValue !== null && spec.numBins > 1 ? spec.numBins - 1 : spec.numBins;
  const bytes = utf8.encode(text);
  const hash = spec.salt ? sipHash24(BigInt(spec.salt[0]), BigInt(spec.salt[1]), bytes) : fingerprint64(bytes);
  const bin = Number(hash % BigInt(bins));
  return spec.maskValue !== null && spec.numBins > 1 ? bin + 1 : bin;
}
