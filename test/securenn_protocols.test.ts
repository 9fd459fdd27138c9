// SecureNN's building blocks, called directly on shares: ShareConvert, ComputeMSB, both DReLU
// forms and SelectShare, against BigInt.
import { randomFillSync } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { reluAndBitOp } from '../lib/api/comparison_ops';
import { add, oddAdd, prgRing, randomSeed, sub } from '../lib/ring';
import { computeMsb, drelu, shareConvert } from '../lib/protocol/securenn/msb';
import { dreluOneCompare, reluOneCompare } from '../lib/protocol/securenn/drelu_one_compare';
import { selectShare } from '../lib/protocol/exact/relu';

const L = 1n << 64n;
const M = L - 1n;

function values(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return [...a, 0n, 1n, 2n, M - 1n, 1n << 63n, (1n << 63n) - 1n, (1n << 62n) - 1n, L - (1n << 62n)];
}

async function share(v: bigint[]): Promise<[tfe.RingTensor, tfe.RingTensor]> {
  const t = tfe.RingTensor.fromBigInts(v);
  const s0 = await prgRing(randomSeed(), [v.length]);
  const s1 = await sub(t, s0);
  t.dispose();
  return [s0, s1];
}

async function onServers(c: tfe.Cluster, name: string, fn: (p: tfe.Party, op: { id: number; name: string }) => Promise<tfe.RingTensor | null>): Promise<[tfe.RingTensor, tfe.RingTensor]> {
  const out = await c.run(c.nextOp(name), fn);
  return [out.get('server0')!, out.get('server1')!];
}

test('ShareConvert: shares over Z_(2^64-1) of the same value, for all but 2^64 - 1', async (t) => {
  const c = new tfe.Cluster();
  const v = values(300);
  const [a0, a1] = await share(v);
  const [y0, y1] = await onServers(c, 'shareConvert', (p, o) => shareConvert(p, o, p.role === 0 ? a0 : p.role === 1 ? a1 : null, v.length));
  const y = (await oddAdd(y0, y1)).toBigInts();
  t.deepEqual(y, v.map((x) => x % M));
  await c.close();
});

test('ComputeMSB on odd-ring shares and DReLU on ring shares match BigInt', async (t) => {
  const c = new tfe.Cluster();
  // ComputeMSB's input lives in Z_(2^64-1): values below 2^64 - 1.
  const v = values(300).map((x) => x % M);
  const [a0, a1] = await share(v);
  a1.dispose();
  // Re-share over the odd ring: y0 + y1 = v (mod 2^64 - 1).
  const y0 = a0;
  const y1 = await (async () => {
    const neg0 = tfe.RingTensor.fromBigInts(a0.toBigInts().map((x) => (M - (x % M)) % M));
    const vt = tfe.RingTensor.fromBigInts(v);
    return oddAdd(vt, neg0);
  })();
  const [m0, m1] = await onServers(c, 'msb', (p, o) => computeMsb(p, o, p.role === 0 ? y0 : p.role === 1 ? y1 : null, v.length));
  t.deepEqual((await add(m0, m1)).toBigInts(), v.map((x) => (x >> 63n) & 1n), 'MSB');
  const w = values(300).filter((x) => BigInt.asIntN(64, x) < 1n << 62n && BigInt.asIntN(64, x) >= -(1n << 62n));
  const [b0, b1] = await share(w);
  const [d0, d1] = await onServers(c, 'drelu', (p, o) => drelu(p, o, p.role === 0 ? b0 : p.role === 1 ? b1 : null, w.length));
  t.deepEqual((await add(d0, d1)).toBigInts(), w.map((x) => (BigInt.asIntN(64, x) >= 0n ? 1n : 0n)), 'DReLU in |a| < 2^62');
  await c.close();
});

test('one-compare DReLU and relu match BigInt on the whole ring: random values and the edges around 0, 2^62 and 2^63', async (t) => {
  const c = new tfe.Cluster();
  // Every value, not just |a| < 2^62: the carry out of the low 63 bits decides bit 63 exactly.
  const edges = [0n, 1n, M, M - 1n, 1n << 62n, (1n << 62n) - 1n, L - (1n << 62n), L - (1n << 62n) - 1n, 1n << 63n, (1n << 63n) - 1n, (1n << 63n) + 1n];
  const v = [...values(2000), ...edges];
  const [a0, a1] = await share(v);
  const [d0, d1] = await onServers(c, 'dreluOneCompare', (p, o) => dreluOneCompare(p, o, p.role === 0 ? a0 : p.role === 1 ? a1 : null, v.length));
  t.deepEqual((await add(d0, d1)).toBigInts(), v.map((x) => (BigInt.asIntN(64, x) >= 0n ? 1n : 0n)));
  const [r0, r1] = await onServers(c, 'reluOneCompare', (p, o) => reluOneCompare(p, o, p.role === 0 ? a0 : p.role === 1 ? a1 : null, v.length));
  t.deepEqual((await add(r0, r1)).toBigInts(), v.map((x) => (BigInt.asIntN(64, x) >= 0n ? x : 0n)), 'relu, as the signed value or 0');
  await c.close();
});

test("the paper's DReLU form on a whole relu gives the default form's bits; an unknown form is refused by name", async (t) => {
  const x = Float64Array.from([...values(500)].map((v) => Number(BigInt.asIntN(64, v) >> 20n) / 2 ** 16));
  const run = async (securennDrelu: tfe.SecureNNDrelu) => {
    const c = new tfe.Cluster({ securennDrelu });
    try {
      t.is(c.fork(c.transport, 1).securennDrelu, securennDrelu, 'sessions keep the form');
      const xs = tfe.definePrivateInput('input-provider', () => ({ data: x, shape: [x.length] }), c);
      // relu, and relu with its sign bit from one comparison (the smooth activations' form).
      const both = reluAndBitOp(xs);
      return await Promise.all([tfe.relu(xs), both.relu, both.bit].map(async (z) => [...(await tfe.defineOutput('output-receiver', z)).data]));
    } finally {
      await c.close();
    }
  };
  const expected = [[...x].map((v) => Math.max(v, 0)), [...x].map((v) => Math.max(v, 0)), [...x].map((v) => (v >= 0 ? 1 : 0))];
  t.deepEqual(await run('paper'), expected);
  t.deepEqual(await run('one-compare'), expected);
  t.throws(() => new tfe.Cluster({ securennDrelu: 'fast' as 'paper' }), { message: /Cluster: unknown SecureNN DReLU form "fast" \(expected 'one-compare', 'paper'\)/ });
});

test('SelectShare picks x where the shared bit is 0 and y where it is 1', async (t) => {
  const c = new tfe.Cluster();
  const n = 200;
  const x = values(n - 8), y = values(n - 8);
  const bits = x.map((_, i) => BigInt(i % 3 === 0 ? 1 : 0));
  const [[x0, x1], [y0, y1], [s0, s1]] = await Promise.all([share(x), share(y), share(bits)]);
  const [z0, z1] = await onServers(c, 'select', (p, o) =>
    selectShare(p, o, p.role === 0 ? s0 : p.role === 1 ? s1 : null, p.role === 0 ? x0 : p.role === 1 ? x1 : null, p.role === 0 ? y0 : p.role === 1 ? y1 : null, n),
  );
  t.deepEqual((await add(z0, z1)).toBigInts(), x.map((v, i) => (bits[i] ? y[i] : v)));
  await c.close();
});
