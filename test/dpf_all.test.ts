// dpfEvalAll (native/src/fss/dpf_all.cc): a DPF key at every point of its domain, the one-hot rows
// FSS deals as keys (lib/protocol/shared_one_hot.ts). Checked against the plaintext point function
// and, word for word, against dpfEval at each point, for both parties and implementations, full
// and short key tiles; and refusals.
import { randomFillSync } from 'node:crypto';

import test from 'ava';

import { cpuInfo, dpfEval, dpfKeygen, dpfKeyWords } from '../lib/ring';
import { DPF_ALL_MAX_BITS, dpfEvalAll } from '../lib/ops/fss';
import { randomU64 } from './helpers/random';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
type Impl = 'auto' | 'portable' | 'aesni';
const IMPLS: Impl[] = ['auto', 'portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];
const u64 = (n: number) => [...randomU64(n, false)];

test('dpfEvalAll: both parties\' rows sum to beta at alpha and 0 elsewhere, and equal dpfEval at every point, word for word', async (t) => {
  for (const impl of IMPLS)
    for (const bits of [1, 2, 5, 9, 13]) {
      const W = 2 ** bits, top = BigInt(W - 1), n = 19;
      // Edges (0, the top, garbage above the domain) and random points; betas 1 and random.
      const alpha = [0n, top, M - 1n, ...u64(n - 3).map((a, i) => (i % 2 ? a & top : a))];
      const beta = alpha.map((_, i) => (i % 3 ? 1n : u64(1)[0]));
      const [a, b] = [make(alpha, [n]), make(beta, [n])];
      const [k0, k1] = await dpfKeygen(a, b, { bits, seed: randomFillSync(new Uint8Array(16)), nonce: u64(1)[0], impl });
      const [y0, y1] = [take(await dpfEvalAll(k0, { bits, party: 0, impl })), take(await dpfEvalAll(k1, { bits, party: 1, impl }))];
      t.is(y0.length, n * W);
      const wrong = y0.findIndex((v, i) => (v + y1[i]) % M !== ((BigInt(i % W) === (alpha[Math.floor(i / W)] & top)) ? beta[Math.floor(i / W)] : 0n));
      t.is(wrong, -1, `${impl}, bits ${bits}: wrong at key ${Math.floor(wrong / W)}, x ${wrong % W}`);
      // dpfEval at every point: the keys repeated W times in rows, the points 0..W-1 each.
      for (const [k, y, party] of bits <= 9 ? ([[k0, y0, 0], [k1, y1, 1]] as const) : []) {
        const rows = take(k), K = dpfKeyWords(bits);
        const { keyRows, tileRows } = await import('./helpers/dcf_rows');
        const plain = keyRows(rows, K), xs: bigint[] = [], reps: bigint[] = [];
        for (let e = 0; e < n; e++) for (let x = 0; x < W; x++) (reps.push(...plain.slice(e * K, e * K + K)), xs.push(BigInt(x)));
        const [kt, xt] = [make(tileRows(reps, K), [n * W, K]), make(xs, [n * W])];
        t.deepEqual(take(await dpfEval(kt, xt, { bits, party, impl })), y, `${impl}, bits ${bits}, party ${party}`);
        kt.dispose();
        xt.dispose();
      }
      for (const x of [a, b, k0, k1]) x.dispose();
    }
});

test('dpfEvalAll refuses a domain over 2^20, a key of another width, and a bad party, in TypeScript and the kernel', async (t) => {
  const [a, b] = [make([1n], [1]), make([1n], [1])];
  const [k] = await dpfKeygen(a, b, { bits: 21, seed: new Uint8Array(16), nonce: 1n });
  await t.throwsAsync(() => dpfEvalAll(k, { bits: 21, party: 0 }), { message: new RegExp(`bits must be an integer in \\[1, ${DPF_ALL_MAX_BITS}\\]|bits`) });
  await t.throwsAsync(() => dpfEvalAll(k, { bits: 20, party: 0 }), { message: /key must be \[n, 43\]/ });
  await t.throwsAsync(() => dpfEvalAll(k, { bits: 21, party: 2 as 0 }), { instanceOf: RangeError });
  const { getBackend } = await import('../lib/backend/backends');
  t.throws(() => getBackend().native.runSync('DpfEvalAll', [k.handle], { bits: 21, party: 0 }), { message: /DpfEvalAll: bits must be at most 20/ });
  t.throws(() => getBackend().native.runSync('DpfEvalAll', [k.handle], { bits: 5, party: 0 }), { message: /DpfEvalAll: key has 45 words per element but bits = 5 needs 13/ });
  for (const x of [a, b, k]) x.dispose();
});
