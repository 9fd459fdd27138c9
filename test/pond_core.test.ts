// Pond end to end through the public API, against float64 references. The bodies take the
// protocol name so that SecureNN can run them again.
import test from 'ava';

import * as tfe from '../lib';
import { truncationFailures } from './helpers/suites/truncation';

const U = 2 ** -16; // one unit in the last place at 16 fractional bits
// The same bodies run under both protocols (SecureNN is Pond plus exact comparisons).
const PROTOCOLS: tfe.ProtocolName[] = ['pond', 'securenn'];

function rand(n: number, scale: number): Float64Array {
  return Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);
}

function input(c: tfe.Cluster, data: Float64Array, shape: number[], player = 'input-provider'): tfe.PrivateTensor {
  return tfe.definePrivateInput(player, () => ({ data, shape }), c);
}

async function open(t: tfe.AnyTensor): Promise<Float64Array> {
  return (await tfe.defineOutput('output-receiver', t)).data;
}

function matmulRef(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

/**
 * Error bound of a sum of k products of encoded values: each operand is off by at most U/2, so
 * each product by (|a| + |b|) U/2 + U^2/4; the single truncation adds at most one unit.
 */
function productBound(absSum: number, k: number): number {
  return absSum * (U / 2) + k * U * U + U;
}

for (const protocol of PROTOCOLS) {
  test(`${protocol}: mul, square and matmul (private x private and private x public) within the derived bound`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const [m, k, n] = [3, 50, 4];
    const xa = rand(m * k, 2), wa = rand(k * n, 0.5);
    const x = input(c, xa, [m, k]);
    const w = input(c, wa, [k, n], 'model-owner');
    const wPub = tfe.definePublicInput('model-owner', () => ({ data: wa, shape: [k, n] }), c);
    const ref = matmulRef(xa, wa, m, k, n);
    for (const got of [await open(tfe.matmul(x, w)), await open(tfe.matmul(x, wPub))])
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let abs = 0;
          for (let p = 0; p < k; p++) abs += Math.abs(xa[i * k + p]) + Math.abs(wa[p * n + j]);
          t.true(Math.abs(got[i * n + j] - ref[i * n + j]) <= productBound(abs, k), `matmul [${i},${j}]`);
        }
    const ya = rand(m * k, 3);
    const y = input(c, ya, [m, k]);
    const prod = await open(tfe.mul(x, y));
    const sq = await open(tfe.square(y));
    for (let i = 0; i < m * k; i++) {
      t.true(Math.abs(prod[i] - xa[i] * ya[i]) <= productBound(Math.abs(xa[i]) + Math.abs(ya[i]), 1));
      t.true(Math.abs(sq[i] - ya[i] * ya[i]) <= productBound(2 * Math.abs(ya[i]), 1));
    }
    await c.close();
  });

  test(`${protocol}: the seed's three-layer network end to end matches float64 with the same polynomial ReLU`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const sizes: [number, number][] = [[784, 128], [128, 128], [128, 10]];
    const ws = sizes.map(([i, o]) => ({ w: rand(i * o, Math.sqrt(6 / (i + o))), b: rand(o, 0.1), i, o }));
    const priv = tfe.definePrivateInput('model-owner', () => ws.flatMap((l) => [{ data: l.w, shape: [l.i, l.o] }, { data: l.b, shape: [1, l.o] }]), c);
    const xa = Float64Array.from({ length: 784 }, () => Math.random());
    let h: tfe.AnyTensor = input(c, xa, [1, 784], 'prediction-client');
    let ref = xa;
    const poly = tfe.reluPolynomial(4);
    const act = (v: number) => (protocol === 'securenn' ? Math.max(v, 0) : tfe.evalPolynomial(poly, v));
    ws.forEach((l, i) => {
      h = tfe.matmul(h, priv[2 * i]).add(priv[2 * i + 1]);
      ref = matmulRef(ref, l.w, 1, l.i, l.o).map((v, j) => v + l.b[j]);
      if (i < 2) {
        h = tfe.relu(h);
        ref = ref.map(act);
      }
    });
    const out = await tfe.defineOutput('prediction-client', h);
    // Three layers of truncation and encoding error, amplified by at most the weights' row sums:
    // measured errors are ~1e-4; 5e-3 leaves room while a protocol error would be far larger.
    for (let j = 0; j < 10; j++) t.true(Math.abs(out.data[j] - ref[j]) < 5e-3, `logit ${j}: ${out.data[j]} vs ${ref[j]}`);
    await c.close();
  });

  test(`${protocol}: per-op byte counts equal the analytical counts`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const [m, k, n] = [2, 30, 5];
    const x = input(c, rand(m * k, 1), [m, k]);
    const w = input(c, rand(k * n, 1), [k, n], 'model-owner');
    await Promise.all([x.shares, w.shares]);
    let tr = c.transport.traffic().byOp;
    // Input: server1 gets 8 bytes per element; server0 a seed message (16 + 8 + 8 * rank).
    t.is(tr.input.bytes, 8 * (m * k + k * n) + 2 * (16 + 8 + 8 * 2));
    c.transport.resetTraffic();
    await (tfe.matmul(x, w) as tfe.PrivateTensor).shares;
    tr = c.transport.traffic().byOp;
    t.is(tr.mask.bytes, 2 * 8 * (m * k + k * n), 'both servers open x - a and w - b');
    t.is(tr.mask.rounds, 2, 'two masking steps (x and w), each one round');
    t.is(tr.matmul.bytes, 8 * m * n, 'server2 sends server1 only the correction of c');
    c.transport.resetTraffic();
    const x2 = input(c, rand(m * k, 1), [m, k]);
    await x2.shares;
    c.transport.resetTraffic();
    await (tfe.matmul(x2, w) as tfe.PrivateTensor).shares;
    tr = c.transport.traffic().byOp;
    t.is(tr.mask.bytes, 2 * 8 * m * k, 'the weight is masked once: only the new input is opened');
    c.transport.resetTraffic();
    const z = tfe.square(x2) as tfe.PrivateTensor;
    await z.shares;
    tr = c.transport.traffic().byOp;
    t.is(tr.square.bytes, 8 * m * k, 'x2 is already masked: just the triple correction');
    t.false('mask' in tr);
    c.transport.resetTraffic();
    await tfe.reveal(z).values;
    await tfe.defineOutput('prediction-client', z);
    tr = c.transport.traffic().byOp;
    t.is(tr.reveal.bytes, 2 * 8 * m * k);
    t.is(tr.output.bytes, 2 * 8 * m * k);
    t.is(tr.reveal.rounds, 1);
    c.transport.resetTraffic();
    await (tfe.add(x, x2).mul(3).reshape([k, m]).transpose() as tfe.PrivateTensor).shares;
    t.is(c.transport.traffic().total.bytes, 0, 'linear ops and constant products are local');
    await c.close();
  });

  test(`${protocol}: server2 receives nothing after setup, and output reaches only its player`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    await c.run(c.nextOp('ping'), async () => undefined); // wait for setup
    const seen: [string, string][] = [];
    const send = c.transport.send.bind(c.transport);
    c.transport.send = (from, to, tag, p) => {
      seen.push([from, to]);
      return send(from, to, tag, p);
    };
    const x = input(c, rand(64, 1), [4, 16], 'prediction-client');
    const w = input(c, rand(16 * 3, 1), [16, 3], 'model-owner');
    await tfe.defineOutput('prediction-client', tfe.relu(tfe.matmul(x, w)).sigmoid());
    t.true(seen.length > 0);
    // Under Pond server2 receives nothing at all; under SecureNN only blinded comparison data
    // from the two compute servers (its privacy is tested in securenn_private_compare).
    const toServer2 = seen.filter(([, to]) => to === 'server2');
    if (protocol === 'pond') t.deepEqual(toServer2, []);
    else t.true(toServer2.every(([from]) => from === 'server0' || from === 'server1'));
    t.deepEqual(seen.filter(([from]) => from === 'server2').map(([, to]) => to).filter((v, i, a) => a.indexOf(v) === i), ['server1']);
    t.deepEqual(seen.filter(([, to]) => to === 'model-owner' || to === 'output-receiver'), []);
    await c.close();
  });
}

test('shares are uniform: chi-square of server0 and server1 shares of a constant input', async (t) => {
  const c = new tfe.Cluster({ protocol: 'pond' });
  const n = 1 << 15;
  const x = input(c, new Float64Array(n).fill(1.25), [n]);
  const shares = await x.shares;
  const chi = (bytes: Uint8Array, stride: number, offset: number) => {
    const h = new Array<number>(256).fill(0);
    for (let i = offset; i < bytes.length; i += stride) h[bytes[i]]++;
    const e = bytes.length / stride / 256;
    return h.reduce((a, v) => a + (v - e) ** 2 / e, 0);
  };
  const critical = 255 + 6 * Math.sqrt(2 * 255); // ~1e-7 false alarm
  for (const s of ['server0', 'server1']) {
    const b = shares.get(s)!.toBytes();
    t.true(chi(b, 8, 0) < critical, `${s} low byte`);
    t.true(chi(b, 8, 7) < critical, `${s} top byte`);
  }
  // Control: the plaintext encoding itself (all equal) fails the same test.
  const plain = tfe.RingTensor.fromFloat64Array(new Float64Array(n).fill(1.25)).toBytes();
  t.true(chi(plain, 8, 0) > critical);
  await c.close();
});

test('local truncation: 200 000 products of values below 4 have at most the rare wrap-around failure', async (t) => {
  const c = new tfe.Cluster({ protocol: 'pond' });
  const n = 200_000;
  const xa = rand(n, 4), ya = rand(n, 4);
  const z = await open(tfe.mul(input(c, xa, [n]), input(c, ya, [n])));
  // A failure is off by 2^32 in value (2^48 units), about 2e-4 of them expected per run: two pass
  // (the suites' truncationFailures); every other product is within its bound of a few units.
  const { failures } = truncationFailures(z, Array.from(xa, (v, i) => v * ya[i]), 1e-3);
  t.true(failures.length <= 2, `${failures.length} truncation failures`);
  const failed = new Set(failures);
  let worst = 0;
  for (let i = 0; i < n; i++) if (!failed.has(i)) worst = Math.max(worst, Math.abs(z[i] - xa[i] * ya[i]) / productBound(Math.abs(xa[i]) + Math.abs(ya[i]), 1));
  t.true(worst <= 1, `worst error / bound ${worst}`);
  await c.close();
});

test('truncationFailures tells a local truncation failure (off by 2^32) from any other error', (t) => {
  const { failures, rest } = truncationFailures([1, 2 + 2 ** 32, 3 + 2 ** 31, 4 - 2 ** 32 + 2 ** -20, 5], [1, 2, 3, 4, 5]);
  t.deepEqual(failures, [1, 3]);
  t.deepEqual(rest, [[1, 3 + 2 ** 31, 5], [1, 3, 5]], 'an error of another size stays, for within() to fail');
});

test('bad input gives clear errors', async (t) => {
  const c = new tfe.Cluster({ protocol: 'pond' });
  const x = input(c, rand(3, 1), [1, 3]);
  const w = input(c, rand(8, 1), [4, 2]);
  t.throws(() => tfe.matmul(x, w), { message: 'matmul: [1,3] x [4,2]: inner dimensions 3 and 4 differ' });
  t.throws(() => tfe.add(x, w), { message: /add: shapes \[1,3\] and \[4,2\] cannot be broadcast/ });
  t.throws(() => tfe.definePrivateInput('nobody', () => [[1]], c), { message: /unknown player 'nobody'/ });
  t.throws(() => tfe.definePrivateInput('model-owner', () => { throw new Error('disk on fire'); }, c), {
    message: "definePrivateInput: the provider of 'model-owner' threw: disk on fire",
  });
  t.throws(() => tfe.definePrivateInput('model-owner', () => [[1, 2], [3, 1e300]], c), { message: /value 1e\+300 at index 3 is outside the representable range/ });
  t.throws(() => tfe.definePrivateInput('model-owner', (() => Promise.resolve([[1]])) as never, c), { message: /returned a Promise/ });
  t.throws(() => tfe.definePrivateInput('server1', () => [[1]], c), { message: /'server1' is a server/ });
  t.throws(() => tfe.setProtocol('spdz' as never), { message: /unknown protocol "spdz"/ });
  await c.close();
});
