// Many hostile connections against server2's lease book (lib/serve/leases.ts), on a real
// three-process cluster: each takes leases and runs its leased queries with server0 and server1
// only, so server2 keeps every lease until server0 names it used (USED_NOTICE_MS later). Together
// they fill server2's bound in all (2 x maxSessions); server2 then drops the oldest lease of
// whoever holds the most, so an honest client's lease, older than all of theirs, survives and its
// query runs on it at every server. The rule itself, against a book that drops the oldest of all,
// is checked in test/leases.test.ts.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { WebSocketTransport } from '../lib/net/ws_transport';
import type { WsEndpoint } from '../lib/net/ws_endpoint';
import { Party, SERVER0, SERVER1, SERVERS } from '../lib/protocol/party';
import { output, shareInput } from '../lib/protocol/pond/share';
import type { LeaseRef } from '../lib/serve/leases';
import type { ServerStatus } from '../lib/serve/messages';
import { CLIENT, inputOp, OUTPUT_OP } from '../lib/serve/programs';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { ask, rawClient, until, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import { poolSettled, type TestCluster } from './helpers/service';

const FB = 16;
const net = mlp([12, 16, 4]);
const relu = (z: number) => Math.max(z, 0);

async function lease(ep: WsEndpoint): Promise<LeaseRef> {
  const [r] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm' });
  if (!r.ok || !r.lease) throw new Error(`no lease: ${JSON.stringify(r)}`);
  return { id: r.lease.id, index: r.lease.index };
}

/** A leased query sent to `to` only; the answers, and whether the output is the plaintext's. */
async function leasedQuery(ep: WsEndpoint, to: readonly string[], l: LeaseRef): Promise<{ ok: boolean; answers: string }> {
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const session = randomUUID();
  const party = new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), session), { fracBits: FB, truncation: 'local' });
  const [answers, , y] = await Promise.all([
    ask(ep, to, session, { type: 'predict', model: 'm', shape: [1, 12], lease: l }),
    shareInput(party, inputOp(0), CLIENT, RingTensor.fromFloat64Array(x, [1, 12], { fracBits: FB })),
    output(party, OUTPUT_OP, null, CLIENT),
  ]);
  const got = Array.from(y!.toBigInt64Array(), (v) => Number(v) / 2 ** FB), want = net.forward(x, relu);
  return { ok: answers.every((a) => a.ok) && want.every((w, i) => Math.abs(got[i] - w) < 1e-3), answers: JSON.stringify(answers) };
}

test("many connections holding leases at server2 push out their own, not an honest client's older one", async (t) => {
  // server2 holds at most 2 x maxSessions = 6 leases, 2 x maxSessionsPerClient = 2 per connection.
  await withOwnerCluster({ maxSessionsPerClient: 1, maxSessions: 3, leaseTtlMs: 30_000 }, async (c: TestCluster, owner) => {
    await owner.deploy(net.file, { name: 'm', protocol: 'fss' });
    const s2 = async (): Promise<NonNullable<ServerStatus['leases']>> => (await owner.status())[2].leases!;
    const honest = await rawClient(c);
    const hostile = await Promise.all([0, 1, 2, 3].map(() => rawClient(c)));
    try {
      await poolSettled(owner);
      const mine = await lease(honest);
      await until(async () => (await s2()).held === 1, 'the honest lease on server2');
      // Four connections, two leased queries each without server2: 8 leases there, 2 over its bound.
      // All within USED_NOTICE_MS (5 s), before server0 names the first of them used.
      const t0 = Date.now();
      for (let round = 0; round < 2; round++)
        for (const ep of hostile) {
          const r = await leasedQuery(ep, [SERVER0, SERVER1], await lease(ep));
          t.true(r.ok, r.answers);
        }
      const flooded = await s2();
      t.log(`flood took ${Date.now() - t0} ms; server2 leases: ${JSON.stringify(flooded)}`);
      t.true(Date.now() - t0 < 5000, 'the flood ran within USED_NOTICE_MS (else server2 dropped the used leases and nothing was evicted)');
      t.is(flooded.held, 6, 'server2 at its bound');
      t.true(flooded.evicted >= 3, `server2 had to drop leases (evicted ${flooded.evicted}): the flood reached its bound`);
      // The honest lease survived: its query runs on it at all three servers (a dropped one is refused).
      const r = await leasedQuery(honest, SERVERS, mine);
      t.true(r.ok, r.answers);
      t.is((await s2()).used, flooded.used + 1, 'server2 took the honest lease');
    } finally {
      await Promise.all([honest, ...hostile].map((ep) => ep.close()));
    }
  });
});
