import { randomFillSync, randomInt } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { bitDecompose, cast, prgField, randomSeed, sub } from '../lib/ring';
import { nonceFor } from '../lib/protocol/correlated';
import { privateCompare, PRIME } from '../lib/protocol/securenn/private_compare';

const MAX = (1n << 64n) - 1n;

function randomU64(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return [...a];
}

/** Shares of the bits of x over Z_67 for server0 and server1 (dealt here, as a test fixture). */
async function bitShares(x: bigint[]): Promise<[tfe.RingTensor, tfe.RingTensor]> {
  const t = tfe.RingTensor.fromBigInts(x, [x.length]);
  const bits = await cast(await bitDecompose(t), 'z67');
  const s0 = await prgField(randomSeed(), PRIME, [x.length, 64]);
  return [s0, await sub(bits, s0)];
}

async function compare(c: tfe.Cluster, x: bigint[], r: bigint[], beta: number[], opts: { permute?: boolean } = {}): Promise<number[]> {
  const n = x.length;
  const [x0, x1] = await bitShares(x);
  const rt = tfe.RingTensor.fromBigInts(r, [n]);
  const bt = tfe.RingTensor.fromUint8Array(Uint8Array.from(beta), [n], 'bit');
  const op = c.nextOp('privateCompare');
  const out = await c.run(op, (p, o) =>
    privateCompare(p, o, 'pc', nonceFor(o.id, 0), p.role === 0 ? x0 : p.role === 1 ? x1 : null, p.isCompute ? rt : null, p.isCompute ? bt : null, n, opts),
  );
  t0dispose([x0, x1, rt, bt]);
  const res = out.get('server2')!;
  const bits = [...res.toUint8Array()];
  res.dispose();
  return bits;
}
function t0dispose(ts: tfe.RingTensor[]): void {
  for (const t of ts) t.dispose();
}

test('PrivateCompare: server2 learns beta xor (x > r), on random values and every edge case', async (t) => {
  const c = new tfe.Cluster();
  const rnd = randomU64(400);
  const x: bigint[] = [], r: bigint[] = [];
  for (let i = 0; i < 100; i++) { x.push(rnd[i]); r.push(rnd[100 + i]); }
  for (let i = 0; i < 50; i++) { x.push(rnd[200 + i]); r.push(rnd[200 + i]); } // equal
  for (let i = 0; i < 50; i++) { const v = rnd[300 + i] | 1n; x.push(v); r.push(v - 1n); } // x = r + 1
  for (const [a, b] of [[0n, 0n], [1n, 0n], [0n, 1n], [MAX, MAX], [MAX, MAX - 1n], [0n, MAX], [MAX, 0n], [1n << 63n, (1n << 63n) - 1n], [(1n << 63n) - 1n, 1n << 63n]]) {
    x.push(a);
    r.push(b);
  }
  const beta = x.map(() => randomInt(2));
  const got = await compare(c, x, r, beta);
  for (let i = 0; i < x.length; i++) t.is(got[i] ^ beta[i], x[i] > r[i] ? 1 : 0, `x=${x[i]} r=${r[i]} beta=${beta[i]}`);
  // r = 2^64 - 1 with beta = 1 takes the special branch: x > r is impossible.
  const special = await compare(c, randomU64(20), new Array(20).fill(MAX), new Array(20).fill(1));
  t.deepEqual(special, new Array(20).fill(1));
  await c.close();
});

/** What server2 sees: the sum of the two blinded vectors, per comparison. */
async function zeroPositions(c: tfe.Cluster, x: bigint, r: bigint, n: number, permute: boolean): Promise<number[]> {
  const seen: Uint8Array[] = [];
  const send = c.transport.send.bind(c.transport);
  c.transport.send = (from, to, tag, p) => {
    if (to === 'server2' && p.kind === 'tensor') seen.push(p.data);
    return send(from, to, tag, p);
  };
  await compare(c, new Array(n).fill(x), new Array(n).fill(r), new Array(n).fill(0), { permute });
  c.transport.send = send;
  const [d0, d1] = seen;
  const pos: number[] = [];
  for (let e = 0; e < n; e++) for (let i = 0; i < 64; i++) if ((d0[e * 64 + i] + d1[e * 64 + i]) % PRIME === 0) pos.push(i);
  return pos;
}

/** Chi-square homogeneity statistic of two histograms over 64 positions. */
function homogeneity(a: number[], b: number[]): number {
  const ha = new Array(64).fill(0), hb = new Array(64).fill(0);
  for (const v of a) ha[v]++;
  for (const v of b) hb[v]++;
  let chi = 0;
  for (let i = 0; i < 64; i++) {
    const tot = ha[i] + hb[i];
    if (tot === 0) continue;
    const ea = (tot * a.length) / (a.length + b.length), eb = (tot * b.length) / (a.length + b.length);
    chi += (ha[i] - ea) ** 2 / ea + (hb[i] - eb) ** 2 / eb;
  }
  return chi;
}

test('what server2 sees in PrivateCompare does not depend on the input: zero positions are uniform', async (t) => {
  const c = new tfe.Cluster();
  const n = 4000;
  // Two fixed comparisons whose deciding bits differ (bit 40 and bit 0); both have x > r.
  const a = await zeroPositions(c, 1n << 40n, (1n << 40n) - 1n, n, true);
  const b = await zeroPositions(c, 5n, 4n, n, true);
  t.is(a.length, n, 'exactly one zero per comparison when x > r');
  t.is(b.length, n);
  const critical = 63 + 6 * Math.sqrt(2 * 63); // about 1e-7 false alarms
  t.true(homogeneity(a, b) < critical, `with the permutation: chi2 ${homogeneity(a, b)}`);
  // Control: without the permutation the zero sits at the deciding bit, and the test sees it.
  const a0 = await zeroPositions(c, 1n << 40n, (1n << 40n) - 1n, 500, false);
  const b0 = await zeroPositions(c, 5n, 4n, 500, false);
  t.true(homogeneity(a0, b0) > critical, `without the permutation: chi2 ${homogeneity(a0, b0)}`);
  await c.close();
});
