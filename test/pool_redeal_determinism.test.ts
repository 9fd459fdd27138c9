// The offline pool's safety rests on one property: server2's side of a query is a function of the
// setup (its seeds), the session index, the model, the batch and the gate form, nothing else. A
// recording that fails is run again online on the same index (pool.ts take, run_request.ts), and
// server1 may have received part of the first dealing: a second dealing of other values under the
// same nonces would let it subtract the two. This deals one index twice, as the pool and the
// online re-run do (dealer-only forks of one setup), and compares every message byte for byte;
// the control deals the same index in another gate form, whose messages must differ (which is
// why the re-run keeps the form the recording announced).
import test from 'ava';

import { readLayersModel } from '../lib/api/model';
import { MemoryTransport } from '../lib/net/memory_transport';
import type { PartyName, Payload, Tag } from '../lib/net/transport';
import { Cluster } from '../lib/protocol/cluster';
import { SERVER0, SERVER1, SERVER2, SERVERS } from '../lib/protocol/party';
import type { FssGate } from '../lib/protocol/protocols';
import { CLIENT, maskWeights, type MaskedWeights, predictOnServer } from '../lib/serve/programs';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { mlp } from './helpers/model_files';

/** Every message server2 sends in one dealer-only session on `index`, as text (sender, receiver, tag, bytes). */
async function dealOnce(root: Cluster, index: number, fssGate: FssGate, spec: ReturnType<typeof readLayersModel>['spec'], masks: MaskedWeights): Promise<string[]> {
  const transport = new MemoryTransport([...SERVERS, CLIENT]);
  const sent: string[] = [];
  const send = transport.send.bind(transport);
  transport.send = (from: PartyName, to: PartyName, tag: Tag, p: Payload) => {
    const bytes = p.kind === 'tensor' ? Buffer.from(p.data).toString('hex') : p.kind === 'seed' ? `${Buffer.from(p.seed).toString('hex')}/${p.nonce}` : p.kind === 'control' ? JSON.stringify(p.data) : '';
    sent.push(`${from}>${to} ${tag.opId} ${tag.step} ${tag.part ?? ''} ${p.kind} ${bytes}`);
    return send(from, to, tag, p);
  };
  const fork = root.fork(transport, index, { protocol: 'fss', fssGate, players: [CLIENT], dealerOnly: true });
  await predictOnServer(fork, SERVER2, spec, spec.params.map(() => null), masks, [1, ...spec.inputShape], { index, maskedInput: false });
  return sent;
}

test("server2 deals a session index twice (a failed recording, then online) with the same bytes; another gate form, other bytes (the control)", async (t) => {
  t.timeout(60_000);
  const { spec, params } = readLayersModel(mlp([12, 16, 4]).file);
  // One setup, each server's part in a cluster of its own (as in the service's processes).
  const setup = new MemoryTransport([...SERVERS, CLIENT]);
  const roots = SERVERS.map((me) => new Cluster({ protocol: 'fss', players: [CLIENT], hosted: [me], transport: setup }));
  const root = roots[2];
  try {
    // The model's masks, made by all three servers in session 1 (as a deploy does): server0 and
    // server1 hold shares of the weights (their values do not matter here), server2 none.
    const deployOn = new MemoryTransport([...SERVERS, CLIENT]);
    const [d0, d1, d2] = roots.map((r) => r.fork(deployOn, 1, { players: [CLIENT] }));
    const share = (i: number, s: bigint) => RingTensor.fromBigInts(Array.from({ length: params[i].data.length }, (_, j) => BigInt(j) * s + 1n), spec.params[i].shape);
    const [, , masks] = await Promise.all([
      maskWeights(d0, SERVER0, spec, spec.params.map((_, i) => share(i, 3n))),
      maskWeights(d1, SERVER1, spec, spec.params.map((_, i) => share(i, 5n))),
      maskWeights(d2, SERVER2, spec, spec.params.map(() => null)),
    ]);
    const first = await dealOnce(root, 7, 'one-round', spec, masks);
    const again = await dealOnce(root, 7, 'one-round', spec, masks);
    t.true(first.length >= 5, `${first.length} messages`);
    t.log(first.map((m) => m.split(' ').slice(0, 5).join(' ') + ` (${m.length} chars)`).join('; '));
    t.true(first.some((m) => m.startsWith(`${SERVER2}>${SERVER1}`)) && first.some((m) => m.startsWith(`${SERVER2}>${SERVER0}`)), 'server2 deals to both compute servers');
    t.deepEqual(again, first, 'the same index, model, batch and form: the same bytes');
    const compact = await dealOnce(root, 7, 'compact', spec, masks);
    t.notDeepEqual(compact, first, 'another gate form on the same index deals other messages');
    const other = await dealOnce(root, 8, 'one-round', spec, masks);
    t.notDeepEqual(other, first, 'another index deals other values');
  } finally {
    await Promise.all(roots.map((r) => r.close()));
  }
});
