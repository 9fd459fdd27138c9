// Getting values in and out: every provider format, reveal, and defineOutput. Sharing and
// reconstruction are exact in the ring, so a round trip returns the encoding bit for bit.
import test from 'ava';

import * as tfe from '../../../lib';
import { enc, rand, U, within, withEdges } from '../fixed';
import { record, setupDone } from '../wire';
import { open, priv, type Protocol, pub, withCluster } from './harness';

// The fixed-point range is [-2^47, 2^47) at 16 fractional bits: its lower end is representable.
const EDGES = [-(2 ** 47), 2 ** 47 - 1, U, -U, 0.25 * U, 123456.789];

export function ioSuite(protocol: Protocol): void {
  test(`${protocol}: every provider format round-trips to the encoding`, (t) =>
    withCluster(protocol, async (c) => {
      const a = withEdges(rand(12, 100), EDGES);
      const nested = [[a[0], a[1], a[2]], [a[3], a[4], a[5]]];
      const f32 = Float32Array.from(rand(12, 100)); // TensorFlow.js tensors hold float32 (2^47 - 1 would round up to 2^47)
      const cases: [string, tfe.AnyTensor, number[], ArrayLike<number>][] = [
        ['nested arrays', tfe.definePrivateInput('input-provider', () => nested, c), [2, 3], a.slice(0, 6)],
        ['{data, shape}', tfe.definePrivateInput('input-provider', () => ({ data: a, shape: [3, 2, 2] }), c), [3, 2, 2], a],
        ['a plain number array with a shape', tfe.definePrivateInput('input-provider', () => ({ data: [...a], shape: [12] }), c), [12], a],
        ['TensorFlow.js-like', tfe.definePrivateInput('input-provider', () => ({ shape: [4, 3], dataSync: () => f32 }), c), [4, 3], f32],
        ['a scalar', tfe.definePrivateInput('input-provider', () => a[5], c), [], [a[5]]],
        ['a private variable of another owner', tfe.definePrivateVariable(nested, { owner: 'input-provider', cluster: c }), [2, 3], a.slice(0, 6)],
        ['a public input', tfe.definePublicInput('input-provider', () => nested, c), [2, 3], a.slice(0, 6)],
      ];
      for (const [name, x, shape, want] of cases) {
        t.deepEqual([...x.shape], shape, name);
        within(t, await open(x), Array.from(want, enc), 0, name);
      }
      // A list of tensor-likes gives a list of tensors, in order.
      const list = tfe.definePrivateInput('model-owner', () => [{ data: a.slice(0, 6), shape: [2, 3] }, { shape: [1, 4], dataSync: () => f32.slice(6, 10) }], c);
      t.true(Array.isArray(list));
      t.is(list.length, 2);
      t.deepEqual(list.map((x) => [...x.shape]), [[2, 3], [1, 4]]);
      within(t, await open(list[0]), Array.from(a.slice(0, 6), enc), 0, 'list item 0');
      within(t, await open(list[1]), Array.from(f32.slice(6, 10), enc), 0, 'list item 1');
    }));

  test(`${protocol}: reveal opens the encoding to both compute servers and to nobody else`, (t) =>
    withCluster(protocol, async (c) => {
      const a = withEdges(rand(20, 50), EDGES);
      const x = priv(c, a, [4, 5]);
      const r = tfe.reveal(x);
      t.is(r.kind, 'public');
      t.deepEqual([...r.shape], [4, 5]);
      t.is(tfe.reveal(r), r, 'revealing a public tensor is the identity');
      const values = await r.values;
      for (const s of ['server0', 'server1']) within(t, values.get(s)!.toFloat64Array(), Array.from(a, enc), 0, `${s}'s revealed value`);
      for (const [name, v] of values) if (name !== 'server0' && name !== 'server1') t.is(v, null, `${name} learns nothing`);
      // The revealed value computes on as a public tensor: it cancels the shares exactly (a sum
      // would overflow at the range's ends).
      within(t, await open(r.sub(x)), new Array(20).fill(0), 0, 'revealed - private');
    }));

  test(`${protocol}: defineOutput decodes for the named player only and returns the receiver's result`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const seen = record(c);
      const a = rand(6, 10), b = rand(6, 10);
      const x = priv(c, a, [2, 3], 'prediction-client'), y = pub(c, b, [2, 3], 'model-owner');
      const z = tfe.add(x, y);
      const want = Array.from(a, (v, i) => enc(v) + enc(b[i]));
      const got = await tfe.defineOutput('prediction-client', z, (d) => ({ shape: d.shape, nested: d.toArray(), data: d.data }));
      t.deepEqual(got.shape, [2, 3]);
      t.deepEqual(got.nested, [want.slice(0, 3), want.slice(3)]);
      within(t, got.data, want, 0, 'receiver data');
      // Without a receiver the decoded value itself comes back.
      const plain = await tfe.defineOutput('prediction-client', z);
      within(t, plain.data, want, 0, 'decoded value');
      // Each output is one share from each compute server, to that player alone.
      const outputs = seen.filter((m) => m.op === 'output');
      t.deepEqual(outputs.map((m) => `${m.from}>${m.to}`).sort(), ['server0>prediction-client', 'server0>prediction-client', 'server1>prediction-client', 'server1>prediction-client']);
      const players = new Set(['model-owner', 'prediction-client', 'input-provider', 'output-receiver']);
      t.deepEqual(seen.filter((m) => players.has(m.to) && m.op !== 'output'), [], 'players receive nothing but outputs');
      // A public tensor's output is its value, from the servers to the player.
      const pubOut = await tfe.defineOutput('output-receiver', y);
      within(t, pubOut.data, Array.from(b, enc), 0, 'public output');
      t.true(seen.filter((m) => m.to === 'output-receiver').every((m) => m.from === 'server0' || m.from === 'server1'));
    }));
}
