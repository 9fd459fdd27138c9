// DCF keys made in chunks (the `first` attribute): server2 generates a large query's keys chunk by
// chunk so that dealing overlaps evaluation (lib/protocol/fss/drelu.ts). The chunks' keys must be
// exactly those of one call on the whole vector, so no two chunks share root seeds, and each
// chunk's keys must evaluate to the plaintext comparison.
import { randomFillSync } from 'node:crypto';

import test from 'ava';

import { dcfEval, dcfEval2, dcfKeygen, dcfKeygen2, getBackend, RingTensor } from '../lib/ring';
import { keyRows } from './helpers/dcf_rows';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;

function randomU64(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return [...a];
}
const randomSeed = () => randomFillSync(new Uint8Array(16));

/** Rows [lo, lo + len) of a key read as rows (keyRows). */
const rows = (k: bigint[], K: number, lo: number, len: number) => k.slice(lo * K, (lo + len) * K);

// Uneven chunks that cross the kernel's batches of 32 and its thread grain, and one empty chunk.
const CUTS = [0, 1, 33, 33, 100, 257, 300];

for (const payloads of [1, 2] as const) {
  test(`dcf keys in chunks (first = offset) equal one call on the whole vector and evaluate to the plaintext comparison (${payloads} payload${payloads > 1 ? 's' : ''})`, async (t) => {
    const n = CUTS.at(-1)!, bits = 63;
    const alpha = randomU64(n), beta0 = randomU64(n), beta1 = randomU64(n);
    // Edge alphas: 0 and the domain's largest value.
    alpha[0] = 0n;
    alpha[1] = (1n << 63n) - 1n;
    const seed = randomSeed(), nonce = randomU64(1)[0];
    const gen = async (lo: number, len: number, first?: number) => {
      const cut = (v: bigint[]) => make(v.slice(lo, lo + len), [len]);
      const opts = { bits, seed, nonce, ...(first === undefined ? {} : { first }) };
      const keys = payloads === 1 ? await dcfKeygen(cut(alpha), cut(beta0), opts) : await dcfKeygen2(cut(alpha), cut(beta0), cut(beta1), opts);
      const K = keys[0].shape[1];
      // As rows: a chunk is tiled from its own first element (native/src/fss/dcf.h "Tiles").
      const tiled = keys.map(take);
      return { K, k: tiled.map((k) => keyRows(k, K)), tiled };
    };
    const whole = await gen(0, n);
    const K = whole.K;
    const x = randomU64(n);
    // Points at and next to alpha, where a comparison is most likely to be off by one.
    for (let i = 0; i < n; i += 3) x[i] = (alpha[i] + BigInt((i % 9) / 3) - 1n + M) % M;
    for (let c = 0; c + 1 < CUTS.length; c++) {
      const lo = CUTS[c], len = CUTS[c + 1] - lo;
      const chunk = await gen(lo, len, lo);
      t.deepEqual(chunk.k[0], rows(whole.k[0], K, lo, len), `chunk [${lo}, ${lo + len}): server0's keys`);
      t.deepEqual(chunk.k[1], rows(whole.k[1], K, lo, len), `chunk [${lo}, ${lo + len}): server1's keys`);
      if (len === 0) continue;
      const xs = make(x.slice(lo, lo + len), [len]);
      const ev = async (party: 0 | 1) => {
        const key = RingTensor.fromBigInts(chunk.tiled[party], [len, K]);
        const y = payloads === 1 ? [await dcfEval(key, xs, { bits, party })] : await dcfEval2(key, xs, { bits, party });
        key.dispose();
        return y.map(take);
      };
      const [y0, y1] = [await ev(0), await ev(1)];
      const mask = (1n << 63n) - 1n;
      for (let p = 0; p < payloads; p++) {
        const beta = p === 0 ? beta0 : beta1;
        const want = Array.from({ length: len }, (_, i) => ((x[lo + i] & mask) < (alpha[lo + i] & mask) ? beta[lo + i] : 0n));
        t.deepEqual(y0[p].map((v, i) => (v + y1[p][i]) % M), want, `chunk [${lo}, ${lo + len}), payload ${p}`);
      }
    }
    // Without the offset a later chunk would reuse the first chunk's root seeds: the control.
    const reused = await gen(33, 67);
    t.deepEqual(rows(reused.k[0], K, 0, 1).slice(0, 2), rows(whole.k[0], K, 0, 1).slice(0, 2), 'first = 0 restarts the stream (why chunks need first)');
  });
}

test('dcf first: refused when not a non-negative integer (TypeScript) or when the stream would wrap (native)', async (t) => {
  const v = make([1n, 2n], [2]);
  const seed = randomSeed();
  for (const first of [-1, 1.5, Number.NaN])
    await t.throwsAsync(dcfKeygen(v, v, { bits: 8, seed, nonce: 1n, first }), { message: /dcfKeygen: first must be an integer in \[0, / });
  await t.throwsAsync(dcfKeygen2(v, v, v, { bits: 8, seed, nonce: 1n, first: -3 }), { message: /dcfKeygen2: first must be an integer/ });
  const native = getBackend().native;
  t.throws(() => native.runSync('DcfKeygen', [v.handle, v.handle], { bits: 8, seed, nonce: 1n, first: (1n << 63n) - 1n }), { message: /DcfKeygen: first \+ n must stay below 2\^63/ });
  t.throws(() => native.runSync('DcfKeygen2', [v.handle, v.handle, v.handle], { bits: 8, seed, nonce: 1n, first: 1n << 62n << 1n }), { message: /DcfKeygen2: first \+ n must stay below 2\^63/ });
  // The largest admissible offset works.
  const [k0, k1] = native.runSync('DcfKeygen', [v.handle, v.handle], { bits: 8, seed, nonce: 1n, first: (1n << 63n) - 3n });
  t.is(k0 !== undefined && k1 !== undefined, true);
});
