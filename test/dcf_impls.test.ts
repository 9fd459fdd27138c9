// The DCF's paths agree bit for bit: 'auto' (VAES and the AVX-512 walk where the CPU has them, sixteen
// blocks at a time, the rest through AES-NI), 'aesni' (eight at a time) and 'portable' (tables, the
// scalar walk).
// Sizes around the wide loop's 16 blocks and the kernels' batches of 32 elements exercise every
// tail; keys and both parties' outputs must be identical, and correct against the plaintext.
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';

import test from 'ava';

import { cpuInfo, dcfEval, dcfEval2, dcfKeygen, dcfKeygen2 } from '../lib/ring';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
const IMPLS = ['auto', 'portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])] as const;

function randomU64(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return [...a];
}

const vaes = (() => {
  try {
    return / vaes( |$)/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8')) && / avx512f( |$)/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();

for (const payloads of [1, 2] as const) {
  test(`dcf (${payloads} payload${payloads > 1 ? 's' : ''}): auto${vaes ? ' (VAES here)' : ''}, aesni and portable give the same keys and outputs, equal to the plaintext`, async (t) => {
    const bits = 63, mask = (1n << 63n) - 1n;
    for (const n of [1, 15, 16, 17, 31, 47, 100]) {
      const alpha = randomU64(n), beta0 = randomU64(n), beta1 = randomU64(n);
      const x = alpha.map((a, i) => (i % 3 === 0 ? a : i % 3 === 1 ? (a + M - 1n) % M : randomU64(1)[0]));
      const seed = randomFillSync(new Uint8Array(16)), nonce = randomU64(1)[0];
      const results = [];
      for (const impl of IMPLS) {
        const opts = { bits, seed, nonce, impl };
        const keys = payloads === 1 ? await dcfKeygen(make(alpha, [n]), make(beta0, [n]), opts) : await dcfKeygen2(make(alpha, [n]), make(beta0, [n]), make(beta1, [n]), opts);
        const xs = make(x, [n]);
        const ys: bigint[][][] = [];
        for (const party of [0, 1] as const) ys.push((payloads === 1 ? [await dcfEval(keys[party], xs, { bits, party, impl })] : await dcfEval2(keys[party], xs, { bits, party, impl })).map(take));
        results.push({ impl, keys: keys.map(take), ys });
        xs.dispose();
      }
      for (const r of results.slice(1)) t.deepEqual([r.keys, r.ys], [results[0].keys, results[0].ys], `n = ${n}: ${r.impl} equals ${results[0].impl}`);
      const { ys } = results[0];
      for (let p = 0; p < payloads; p++) {
        const beta = p === 0 ? beta0 : beta1;
        t.deepEqual(ys[0][p].map((v, i) => (v + ys[1][p][i]) % M), alpha.map((a, i) => ((x[i] & mask) < (a & mask) ? beta[i] : 0n)), `n = ${n}, payload ${p}`);
      }
    }
    t.log(vaes ? 'this CPU has VAES and AVX-512: auto took the wide path' : 'no VAES here: auto took the AES-NI or portable path');
  });
}

// The many-payload DCF's wide walks (dcf_many_avx512.cc: whole batches of 32; the key generation
// where the CPU has AVX-512, not under 'portable'; the evaluation with VAES too, under 'auto')
// against the scalar ones: keys equal word for word; and any key words are valid keys for an
// evaluation, so random ones reach every correction and control-bit combination: the outputs must
// be identical word for word, around the batch of 32 and for payload counts odd and even.
test(`dcf many: auto${vaes ? ' (the wide walks here)' : ''}, aesni and portable make the same keys and evaluate any keys to the same shares`, async (t) => {
  const { dcfEvalMany, dcfKeygenMany, dcfKeyWords } = await import('../lib/ring');
  // Key generation: the wide walk (whole batches of 32, AVX-512, not under 'portable') against the scalar one.
  for (const [n, P, bits] of [[32, 1, 1], [77, 20, 64], [64, 3, 48], [40, 256, 12]] as const) {
    const alpha = randomU64(n), beta = randomU64(n * P), seed = randomFillSync(new Uint8Array(16)), nonce = randomU64(1)[0];
    const made = [];
    for (const impl of IMPLS) made.push({ impl, keys: (await dcfKeygenMany(make(alpha, [n]), make(beta, [n, P]), { bits, seed, nonce, impl })).map(take) });
    for (const m of made.slice(1)) t.deepEqual(m.keys, made[0].keys, `keygen n ${n}, P ${P}, bits ${bits}: ${m.impl} equals ${made[0].impl}`);
  }
  for (const [n, P, bits] of [[32, 1, 1], [33, 2, 17], [64, 3, 48], [77, 20, 64], [96, 7, 63], [40, 256, 12]] as const) {
    const K = dcfKeyWords(bits, P), keyWords = randomU64(n * K), x = randomU64(n);
    const outs: { impl: string; y: bigint[] }[] = [];
    for (const impl of IMPLS)
      for (const party of [0, 1] as const) {
        const key = make(keyWords, [n, K]), xs = make(x, [n]);
        outs.push({ impl: `${impl}, party ${party}`, y: take(await dcfEvalMany(key, xs, { bits, party, payloads: P, impl })) });
        key.dispose();
        xs.dispose();
      }
    for (const party of [0, 1]) {
      const mine = outs.filter((o) => o.impl.endsWith(`party ${party}`));
      for (const o of mine.slice(1)) t.deepEqual(o.y, mine[0].y, `n ${n}, P ${P}, bits ${bits}: ${o.impl} equals ${mine[0].impl}`);
    }
  }
});
