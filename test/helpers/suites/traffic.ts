// Communication per op, against the analytical counts (ring elements are 8 bytes):
//   input of n elements, rank r:  8n to server1, plus a seed message of 16 + 8 + 8r to server0
//   mask (first product use):     both servers send their share of x - a: 2 * 8n, one round
//   mul/square/matmul/conv2d/conv3d: server2 sends server1 the triple correction: 8 * |output|
//   reveal, output, publicInput:  2 * 8n
//   private x public products, constant products, linear ops: nothing
// Each count is computed from the formula, never copied from a run.
import test, { type ExecutionContext } from 'ava';

import * as tfe from '../../../lib';
import { rand } from '../fixed';
import { setupDone } from '../wire';
import { priv, type Protocol, pub, ready, TRAITS, withCluster } from './harness';

const seedMsg = (rank: number) => 16 + 8 + 8 * rank;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs `fn` on a clean counter and returns the per-op traffic it caused. */
async function measure(c: tfe.Cluster, fn: () => Promise<unknown>): Promise<tfe.TrafficReport> {
  c.transport.resetTraffic();
  await fn();
  return c.transport.traffic();
}

/** Asserts the per-op table equals `want` exactly: no op missing, none extra. */
function ops(t: ExecutionContext, got: tfe.TrafficReport, want: Record<string, Partial<tfe.OpTraffic>>, what: string): void {
  t.deepEqual(Object.keys(got.byOp).sort(), Object.keys(want).sort(), `${what}: ops that communicated`);
  for (const [op, w] of Object.entries(want))
    for (const [k, v] of Object.entries(w)) t.is(got.byOp[op]?.[k as keyof tfe.OpTraffic], v, `${what}: ${op}.${k}`);
}

export function trafficSuite(protocol: Protocol): void {
  test(`${protocol}: input, publicInput, reveal and output bytes`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const s = [3, 5];
      let x!: tfe.PrivateTensor;
      ops(t, await measure(c, () => (x = priv(c, rand(15, 1), s, 'prediction-client')).shares), { input: { bytes: 8 * 15 + seedMsg(2), messages: 2, rounds: 1 } }, 'input [3,5]');
      const shapes = [[2, 3], [4], []];
      ops(t, await measure(c, () => Promise.all(tfe.definePrivateInput('model-owner', () => shapes.map((sh) => ({ data: rand(size(sh), 1), shape: sh })), c).map((v) => v.shares))),
        { input: { bytes: shapes.reduce((a, sh) => a + 8 * size(sh) + seedMsg(sh.length), 0), messages: 6, rounds: 3 } }, 'a list of three inputs');
      ops(t, await measure(c, () => pub(c, rand(4, 1), [2, 2]).values), { publicInput: { bytes: 2 * 8 * 4, messages: 2, rounds: 1 } }, 'publicInput [2,2]');
      ops(t, await measure(c, () => tfe.reveal(x).values), { reveal: { bytes: 2 * 8 * 15, messages: 2, rounds: 1 } }, 'reveal');
      const out = await measure(c, () => tfe.defineOutput('output-receiver', x));
      ops(t, out, { output: { bytes: 2 * 8 * 15, messages: 2, rounds: 1 } }, 'output');
      t.is(out.byParty.server0?.bytes, 8 * 15, 'server0 sends its share');
      t.is(out.byParty.server1?.bytes, 8 * 15, 'server1 sends its share');
      t.false('server2' in out.byParty, 'server2 sends nothing');
      t.is(out.total.bytes, 2 * 8 * 15);
    }));

  test(`${protocol}: mask, matmul, mul, square and conv2d bytes; a reused weight is masked once`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const [m, k, n] = [2, 30, 5];
      const x = priv(c, rand(m * k, 1), [m, k]), y = priv(c, rand(m * k, 1), [m, k]);
      const w = priv(c, rand(k * n, 1), [k, n], 'model-owner'), b = priv(c, rand(k, 1), [k]);
      await ready(x, y, w, b);
      const first = await measure(c, () => ready(tfe.matmul(x, w)));
      ops(t, first, { mask: { bytes: 2 * 8 * (m * k + k * n), messages: 4, rounds: 2 }, matmul: { bytes: 8 * m * n, messages: 1, rounds: 1 } }, 'first matmul');
      t.deepEqual(Object.fromEntries(Object.entries(first.byParty).map(([p, v]) => [p, v.bytes])), { server0: 8 * (m * k + k * n), server1: 8 * (m * k + k * n), server2: 8 * m * n }, 'first matmul by party');
      ops(t, await measure(c, () => ready(tfe.matmul(y, w))), { mask: { bytes: 2 * 8 * m * k, rounds: 1 }, matmul: { bytes: 8 * m * n } }, 'second matmul: only the new input is masked');
      ops(t, await measure(c, () => ready(tfe.matmul(y, w))), { matmul: { bytes: 8 * m * n } }, 'third matmul: both operands already masked');
      ops(t, await measure(c, () => ready(tfe.mul(x, y))), { mul: { bytes: 8 * m * k, messages: 1, rounds: 1 } }, 'mul of masked tensors');
      ops(t, await measure(c, () => ready(tfe.mul(x, b))), { mask: { bytes: 2 * 8 * k }, mul: { bytes: 8 * m * k } }, 'broadcast mul: the output size counts');
      ops(t, await measure(c, () => ready(tfe.square(x))), { square: { bytes: 8 * m * k, rounds: 1 } }, 'square of a masked tensor');
      const u = priv(c, rand(7, 1), [7]);
      await u.shares;
      ops(t, await measure(c, () => ready(tfe.square(u))), { mask: { bytes: 2 * 8 * 7, rounds: 1 }, square: { bytes: 8 * 7 } }, 'square: one mask');
      const img = priv(c, rand(50, 1), [1, 5, 5, 2]), f = priv(c, rand(72, 1), [3, 3, 2, 4], 'model-owner');
      await ready(img, f);
      ops(t, await measure(c, () => ready(tfe.conv2d(img, f, { strides: 2, padding: 'SAME' }))), { mask: { bytes: 2 * 8 * (50 + 72), rounds: 2 }, conv2d: { bytes: 8 * (1 * 3 * 3 * 4), rounds: 1 } }, 'conv2d [1,5,5,2] * [3,3,2,4] SAME stride 2');
      // conv3d: the volume (128 values) and the filter (162) are masked, not the 8 windows of 54
      // values each that the product gathers (432); SAME's zero after the volume adds 2 values.
      const vol = priv(c, rand(128, 1), [1, 4, 4, 4, 2]), f3 = priv(c, rand(162, 1), [3, 3, 3, 2, 3], 'model-owner');
      await ready(vol, f3);
      ops(t, await measure(c, () => ready(tfe.conv3d(vol, f3))), { mask: { bytes: 2 * 8 * (128 + 162), rounds: 2 }, patchMatmul: { bytes: 8 * (2 * 2 * 2 * 3), rounds: 1 } }, 'conv3d [1,4,4,4,2] * [3,3,3,2,3] VALID');
      ops(t, await measure(c, () => ready(tfe.conv3d(vol, f3, { padding: 'SAME' }))), { mask: { bytes: 2 * 8 * (128 + 2 + 162), rounds: 2 }, patchMatmul: { bytes: 8 * (4 * 4 * 4 * 3), rounds: 1 } }, 'conv3d SAME');
    }));

  test(`${protocol}: private x public products, constant products and linear ops are local`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const x = priv(c, rand(24, 1), [4, 6]), p = pub(c, rand(24, 1), [4, 6]), wp = pub(c, rand(12, 1), [6, 2]);
      const img = priv(c, rand(32, 1), [1, 4, 4, 2]), fp = pub(c, rand(16, 1), [2, 2, 2, 2]);
      await ready(x, p, wp, img, fp);
      const local = [
        tfe.mul(x, p), tfe.mul(p, x), tfe.mul(x, 3.5), tfe.matmul(x, wp), tfe.conv2d(img, fp, { padding: 'SAME' }), tfe.avgPool2d(img, { poolSize: 2 }),
        tfe.add(x, p), tfe.sub(p, x), tfe.add(x, 1.5), tfe.neg(x), tfe.reshape(x, [24]), tfe.flatten(img), tfe.transpose(x), tfe.slice(x, [1, 1], [2, 2]),
        tfe.pad(x, [[1, 1], [0, 0]]), tfe.concat([x, p], 0), tfe.reduceSum(x, 1), x.add(x).mul(0.25),
      ];
      const tr = await measure(c, () => Promise.all(local.map((z) => (z.kind === 'private' ? z.shares : z.values))));
      t.is(tr.total.bytes, 0);
      t.is(tr.total.messages, 0);
    }));

  // Pond's polynomial activations. The exact protocols compute them differently (their relu
  // traffic: test/securenn_view.test.ts and test/fss_view.test.ts).
  if (!TRAITS[protocol].exactRelu)
  test(`${protocol}: polynomial activations cost their masks and products (relu: one mask and one square)`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const n = 20;
      const xs = [0, 1, 2].map(() => priv(c, rand(n, 1), [n]));
      await ready(...xs);
      {
        // Degree 2: x^2 is one square (one mask of x); the weighted sum is local.
        const tr = await measure(c, () => tfe.relu(xs[0]).shares);
        ops(t, tr, { mask: { bytes: 2 * 8 * n, rounds: 1 }, square: { bytes: 8 * n, rounds: 1 } }, 'relu');
        t.is(tr.total.rounds, 2);
      }
      // Odd degree 3: x^2 (mask x, square), then x^3 = x^2 * x (mask x^2, mul).
      for (const [name, op, x] of [['sigmoid', tfe.sigmoid, xs[1]], ['tanh', tfe.tanh, xs[2]]] as const) {
        const tr = await measure(c, () => op(x).shares);
        ops(t, tr, { mask: { bytes: 2 * 2 * 8 * n, messages: 4, rounds: 2 }, square: { bytes: 8 * n, rounds: 1 }, mul: { bytes: 8 * n, rounds: 1 } }, name);
        t.is(tr.total.rounds, 4, `${name}: rounds`);
        t.is(tr.total.bytes, 6 * 8 * n, `${name}: total bytes`);
      }
    }));

  test(`${protocol}: setup exchanges seeds between the servers once per cluster`, async (t) => {
    const transport = new tfe.MemoryTransport(['server0', 'server1', 'server2', ...tfe.DEFAULT_PLAYERS]);
    const seen: { from: string; to: string; op: string; kind: string }[] = [];
    const send = transport.send.bind(transport);
    transport.send = (from, to, tag, payload) => {
      seen.push({ from, to, op: tag.op, kind: payload.kind });
      return send(from, to, tag, payload);
    };
    await withCluster(protocol, async (c) => {
      await setupDone(c);
      const setup = seen.filter((m) => m.op === 'setup');
      t.true(setup.length >= 2);
      t.true(setup.every((m) => m.kind === 'control'), 'seeds are control messages, not tensors');
      // server2 gives server0 and server1 one seed each; no player takes part.
      t.deepEqual(setup.filter((m) => m.from === 'server2').map((m) => m.to).sort(), ['server0', 'server1']);
      t.true(setup.every((m) => m.from.startsWith('server') && m.to.startsWith('server') && m.to !== 'server2'));
      await tfe.defineOutput('output-receiver', priv(c, rand(4, 1), [4]).square());
      t.is(seen.filter((m) => m.op === 'setup').length, setup.length, 'no further setup');
    }, { transport });
  });
}
