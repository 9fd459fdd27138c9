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
