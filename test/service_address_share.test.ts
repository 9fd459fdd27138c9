// The per-address bounds on a real three-process cluster (mutual TLS, loopback; a second address
// is 127.0.0.2, which Linux answers as all of 127/8): one address's connections together hold at
// most maxAddressPercent of the requests in flight and of server0's unused leases, while another
// address is still served; with every place waiting for a go-ahead taken by one address, a request
// from another pushes out that address's oldest, whose client is told to retry. The rules alone,
// with controls, are test/address_share.test.ts.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import type { WsEndpoint } from '../lib/net/ws_endpoint';
import { WebSocketTransport } from '../lib/net/ws_transport';
import { Party, SERVER0, SERVER1, SERVERS } from '../lib/protocol/party';
import { output, shareInput } from '../lib/protocol/pond/share';
import { CLIENT, inputOp, OUTPUT_OP } from '../lib/serve/programs';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { ask, rawClient, until, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import { poolSettled } from './helpers/service';

const FB = 16;
const net = mlp([12, 16, 4]);
const OTHER = '127.0.0.2';
const request = { type: 'predict', model: 'm', shape: [1, 12] };

/** A whole plain query from `ep`; whether its output is the plaintext's. */
async function query(ep: WsEndpoint): Promise<{ ok: boolean; answers: string }> {
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const id = randomUUID();
  const party = new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), id), { fracBits: FB, truncation: 'local' });
  const [answers, , y] = await Promise.all([ask(ep, SERVERS, id, request), shareInput(party, inputOp(0), CLIENT, RingTensor.fromFloat64Array(x, [1, 12], { fracBits: FB })), output(party, OUTPUT_OP, null, CLIENT)]);
  const got = Array.from(y!.toBigInt64Array(), (v) => Number(v) / 2 ** FB), want = net.forward(x, (z) => Math.max(z, 0));
  return { ok: answers.every((a) => a.ok) && want.every((w, i) => Math.abs(got[i] - w) < 1e-3), answers: JSON.stringify(answers) };
}

test('one address holds at most its share of requests and leases; another address is served meanwhile; waiting places are pushed out fairly', async (t) => {
  t.timeout(120_000);
  // Per address: max(maxSessionsPerClient, 50% of maxSessions) = 2 requests and 2 leases.
  await withOwnerCluster({ maxSessionsPerClient: 1, maxSessions: 4, maxPendingRequests: 2, leaseTtlMs: 30_000 }, async (c, owner) => {
    await owner.deploy(net.file, { name: 'm', protocol: 'securenn' });
    await poolSettled(owner);
    const here = await Promise.all([0, 1, 2].map(() => rawClient(c)));
    const there = await rawClient(c, false, OTHER);
    const held: string[] = [];
    try {
      // Requests in flight: two of this address's connections hold one each at server0 (admitted,
      // waiting for an input that never comes); a third connection here is refused; the other
      // address's query runs.
      const waiting = here.slice(0, 2).map((ep) => {
        const id = randomUUID();
        held.push(id);
        return ask(ep, [SERVER0], id, request, 60_000);
      });
      await new Promise((r) => setTimeout(r, 500));
      const [third] = await ask(here[2], [SERVER0], randomUUID(), request);
      t.regex(third.ok ? 'admitted' : third.error, /^server0: the clients of this address already have as many requests in flight as one address may \(maxAddressPercent = 50% of maxSessions\); wait for one to finish$/);
      const q = await query(there);
      t.true(q.ok, q.answers);
      here.slice(0, 2).forEach((ep, i) => ep.abortSession(held[i], 'done', SERVERS));
      await Promise.all(waiting);

      // Leases at server0: two for this address, the third refused; the other address gets one.
      const leaseFrom = async (ep: WsEndpoint) => (await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm' }))[0];
      t.true((await leaseFrom(here[0])).ok);
      t.true((await leaseFrom(here[1])).ok);
      const refused = await leaseFrom(here[2]);
      t.regex(refused.ok ? 'granted' : refused.error, /the clients of this address hold as many unused leases as one address may \(maxAddressPercent = 50% of maxSessions\)/);
      t.true((await leaseFrom(there)).ok, 'the other address is granted one');

      // Places waiting for server0's go-ahead (2): requests sent to server1 alone take both, from
      // this address; one from the other address pushes out the oldest, which is told to retry.
      const first = randomUUID(), second = randomUUID(), theirs = randomUUID();
      const a1 = ask(here[0], [SERVER1], first, request, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const a2 = ask(here[1], [SERVER1], second, request, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const b = ask(there, [SERVER1], theirs, request, 30_000);
      const [pushed] = await a1;
      t.regex(pushed.ok ? 'admitted' : pushed.error, /^server1: the server is busy: a request from another address took the place this one waited in \(maxAddressPercent\); retry later$/);
      await new Promise((r) => setTimeout(r, 300));
      here[1].abortSession(second, 'done', SERVERS);
      there.abortSession(theirs, 'done', SERVERS);
      const [second1, their1] = [(await a2)[0], (await b)[0]];
      for (const r of [second1, their1]) t.notRegex(r.ok ? '' : r.error, /maxPendingRequests/, 'the others kept their places until they ended');
      t.true(c.logs.some((l) => /refused a waiting request .*its address held the most requests waiting for a go-ahead/.test(l)), 'server1 logs why');
    } finally {
      await Promise.all([...here, there].map((ep) => ep.close()));
    }
  });
});

test("a query whose lease is not for it is refused before it takes a place: no other address's waiting request is pushed out for it", async (t) => {
  t.timeout(120_000);
  // Two places in all, one address may hold them all (100%): this address's two requests wait at
  // server1, so a request from the other address may push out the older (the test above).
  await withOwnerCluster({ maxSessionsPerClient: 1, maxSessions: 2, maxAddressPercent: 100, leaseTtlMs: 30_000 }, async (c, owner) => {
    await owner.deploy(net.file, { name: 'm', protocol: 'securenn' });
    await poolSettled(owner);
    const here = await Promise.all([0, 1].map(() => rawClient(c)));
    const there = await rawClient(c, false, OTHER);
    try {
      const [granted] = await ask(there, SERVERS, randomUUID(), { type: 'lease', model: 'm' });
      const lease = granted.ok ? granted.lease : undefined;
      if (!lease) return t.fail(JSON.stringify(granted));
      await until(async () => (await owner.status())[1].leases!.held > 0, 'server1 to hold the lease');
      const ids = [randomUUID(), randomUUID()];
      const waiting = here.map((ep, i) => ask(ep, [SERVER1], ids[i], request, 30_000));
      await until(async () => (await owner.status())[1].pending === 2, 'both requests to wait at server1');
      // The lease's index is not this query's: refused, naming the lease, and both places kept.
      const [wrong] = await ask(there, [SERVER1], randomUUID(), { ...request, lease: { id: lease.id, index: lease.index + 1 } });
      t.regex(wrong.ok ? 'admitted' : wrong.error, /^server1: lease [0-9a-f]{8} does not match this query/);
      t.is((await owner.status())[1].pending, 2, 'no waiting request was pushed out');
      t.false(c.logs.some((l) => /refused a waiting request/.test(l)), c.logs.filter((l) => /refused/.test(l)).join('\n'));
      here.forEach((ep, i) => ep.abortSession(ids[i], 'done', SERVERS));
      for (const [r] of await Promise.all(waiting)) t.notRegex(r.ok ? '' : r.error, /took the place this one waited in/);
    } finally {
      await Promise.all([...here, there].map((ep) => ep.close()));
    }
  });
});
