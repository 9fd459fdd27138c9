// Leases at the edges of their bounds, on real three-process clusters (lib/serve/leases.ts):
// - many hostile connections that run their leased queries with server0 and server1 only (server2
//   keeps each lease until server0 names it used, USED_NOTICE_MS later) fill server2's bound in
//   all; server2 then drops the oldest lease of whoever holds the most, so an honest client's
//   older lease survives and its query runs on it at every server (the rule itself, against a
//   book that drops the oldest of all, in test/leases.test.ts);
// - a linear model's masked query, which server0 computes alone, run at server0 only: server1
//   drops that used lease when server0 names it, seconds later, not at expiry;
// - a query that outlives the expiry of the next lease it asked for still answers at once (server1
//   used to wait for a notice of that lease until the query's timeout);
// - a query that finds one session index left in its setup runs on it and takes no lease for the
//   next query (server0 takes the query's index before it leases the next one: before, the lease
//   took the last index, the query was refused, and the lease held a place until expiry until it
//   was voided with the refusal); the next query is refused, holding nothing.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';

import test from 'ava';

import { WebSocketTransport } from '../lib/net/ws_transport';
import { sub } from '../lib/ops';
import type { WsEndpoint } from '../lib/net/ws_endpoint';
import { Party, SERVER0, SERVER1, SERVERS, tag } from '../lib/protocol/party';
import { output, shareInput } from '../lib/protocol/pond/share';
import type { LeaseRef } from '../lib/serve/leases';
import type { ServerStatus } from '../lib/serve/messages';
import { receiveNextMask } from '../lib/serve/input_mask';
import { CLIENT, inputOp, nextMaskTag, OUTPUT_OP } from '../lib/serve/programs';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { ask, queryTakingLease, rawClient, until, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import { poolSettled, type TestCluster } from './helpers/service';

const FB = 16;
const net = mlp([12, 16, 4]);
/** One Dense layer: with a masked input server0 computes its output share without server1. */
const linear = mlp([12, 5]);
const relu = (z: number) => Math.max(z, 0);

const session = (ep: WsEndpoint) => {
  const id = randomUUID();
  return { id, party: new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), id), { fracBits: FB, truncation: 'local' }) };
};

async function lease(ep: WsEndpoint): Promise<LeaseRef> {
  const [r] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm' });
  if (!r.ok || !r.lease) throw new Error(`no lease: ${JSON.stringify(r)}`);
  return { id: r.lease.id, index: r.lease.index };
}

/** A leased query sent to `to` only; the answers, and whether the output is the plaintext's. */
async function leasedQuery(ep: WsEndpoint, to: readonly string[], l: LeaseRef): Promise<{ ok: boolean; answers: string }> {
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const { id, party } = session(ep);
  const [answers, , y] = await Promise.all([
    ask(ep, to, id, { type: 'predict', model: 'm', shape: [1, 12], lease: l }),
    shareInput(party, inputOp(0), CLIENT, RingTensor.fromFloat64Array(x, [1, 12], { fracBits: FB })),
    output(party, OUTPUT_OP, null, CLIENT),
  ]);
  const got = Array.from(y!.toBigInt64Array(), (v) => Number(v) / 2 ** FB), want = net.forward(x, relu);
  return { ok: answers.every((a) => a.ok) && want.every((w, i) => Math.abs(got[i] - w) < 1e-3), answers: JSON.stringify(answers) };
}

test.serial("many connections holding leases at server2 push out their own, not an honest client's older one", async (t) => {
  // server2 holds at most 2 x maxSessions = 6 leases, 2 x maxSessionsPerClient = 2 per connection.
  // Many connections of one address (the per-address share off: test/service_address_share.test.ts).
  await withOwnerCluster({ maxSessionsPerClient: 1, maxSessions: 3, leaseTtlMs: 30_000, maxAddressPercent: 100 }, async (c: TestCluster, owner) => {
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

test.serial("a linear model's masked query run at server0 alone: server1 drops the used lease when server0 names it, not at expiry", async (t) => {
  await withOwnerCluster({ leaseTtlMs: 60_000 }, async (c: TestCluster, owner) => {
    await owner.deploy(linear.file, { name: 'lin', protocol: 'fss' });
    const s1 = async () => (await owner.status())[1].leases!;
    const ep = await rawClient(c);
    try {
      await poolSettled(owner);
      // A plain query that takes the next lease with its input mask (all three servers).
      const x = RingTensor.fromFloat64Array(Float64Array.from({ length: 12 }, () => Math.random()), [1, 12], { fracBits: FB });
      const { answers, mask } = await queryTakingLease(ep, 'lin', x, FB);
      const l = answers[0].ok ? answers[0].lease : undefined;
      t.truthy(l && mask, JSON.stringify(answers[0]));
      const before = await s1();
      t.is(before.held, 1, 'server1 holds the lease');
      // The leased, masked query to server0 alone: it answers without server1.
      const q = session(ep);
      const m = await sub(x, mask!);
      const [[a0]] = await Promise.all([
        ask(ep, [SERVER0], q.id, { type: 'predict', model: 'lin', shape: [1, 12], lease: { id: l!.id, index: l!.index }, maskedInput: true }),
        q.party.sendTensor(SERVER0, tag(inputOp(0), 'input'), m),
      ]);
      t.true(a0.ok, JSON.stringify(a0));
      const t0 = Date.now();
      await until(async () => (await s1()).held === 0, "server1 to drop the lease server0's query used", 20_000);
      t.log(`server1 dropped it ${Date.now() - t0} ms after the query (expiry: 65000 ms)`);
      t.is((await s1()).expired, before.expired + 1, 'dropped unused here, its pooled side freed');
    } finally {
      await ep.close();
    }
  });
});

test.serial('a query that outlives the expiry of the next lease it asked for still answers at once', async (t) => {
  // Leases expire after 1 s on server0, 6 s on server1; the client holds its input back 7 s.
  await withOwnerCluster({ leaseTtlMs: 1000 }, async (c: TestCluster, owner) => {
    await owner.deploy(net.file, { name: 'm', protocol: 'fss' });
    const ep = await rawClient(c);
    try {
      await poolSettled(owner);
      const q = session(ep);
      const xs = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
      const answers = ask(ep, SERVERS, q.id, { type: 'predict', model: 'm', shape: [1, 12], leaseNext: true }, 60_000);
      const next = receiveNextMask(q.party, nextMaskTag(), [1, 12]);
      await new Promise((r) => setTimeout(r, 7000));
      const t0 = Date.now();
      const [got, , y, mask] = await Promise.all([answers, shareInput(q.party, inputOp(0), CLIENT, RingTensor.fromFloat64Array(xs, [1, 12], { fracBits: FB })), output(q.party, OUTPUT_OP, null, CLIENT), next]);
      const ms = Date.now() - t0;
      t.true(got.every((a) => a.ok), JSON.stringify(got));
      t.true(ms < 5000, `answered ${ms} ms after the input`);
      t.is(mask, undefined, 'the next lease expired: no mask');
      const out = Array.from(y!.toBigInt64Array(), (v) => Number(v) / 2 ** FB), want = net.forward(xs, relu);
      t.true(want.every((w, i) => Math.abs(out[i] - w) < 1e-3), `${out} vs ${Array.from(want)}`);
    } finally {
      await ep.close();
    }
  });
});

test.serial('a query that finds one session index left runs on it and leases nothing; the next is refused, holding nothing', async (t) => {
  // 40 session indices per setup, renewed below 5, but never while a deploy runs: a deploy whose
  // weights never come (a raw owner connection sends the request alone) holds the renewal back,
  // so plain queries can spend the setup down to its last index. The next query asks for a lease
  // (a client with leases on): server0 takes the last index for the query itself, so the lease,
  // which would need another, is not granted anywhere, and the query answers.
  await withOwnerCluster({ sessionsPerSetup: 40, maxPoolRecordings: 10, precomputePool: 0, leaseTtlMs: 60_000 }, async (c: TestCluster, owner) => {
    await owner.deploy(net.file, { name: 'm', protocol: 'fss' });
    const left = async () => (await owner.status())[0].setup!.indicesLeft!;
    const leases = async () => (await owner.status()).map((s) => s.leases!);
    const ownerEp = await rawClient(c, true);
    const client = await c.connect({ leases: false });
    const leasing = await c.connect();
    try {
      const topo = JSON.parse(fs.readFileSync(net.file, 'utf8'));
      const weights = topo.weightsManifest[0].weights.map((w: { name: string; shape: number[] }) => ({ name: w.name, shape: w.shape }));
      const before = await left();
      void ask(ownerEp, SERVERS, randomUUID(), { type: 'deploy', model: 'held', protocol: 'fss', topology: topo.modelTopology, weights }, 120_000);
      await until(async () => (await left()) === before - 1, 'the held deploy to take its index');
      const x = { data: new Float64Array(12).fill(0.25), shape: [1, 12] };
      while ((await left()) > 1) await client.predict('m', x);
      t.is(c.logs.filter((l) => l.includes('renewing the setup')).length, 0, 'no renewal while the deploy runs');
      const was = await leases();
      const xs = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
      const p = await leasing.predict('m', { data: xs, shape: [1, 12] });
      t.true(net.forward(xs, relu).every((w, i) => Math.abs(p.data[i] - w) < 1e-3), 'the query on the last index is exact');
      t.is(await left(), 0, 'the query took the last index');
      t.deepEqual((await leases()).map((l) => [l.granted, l.held]), was.map((l) => [l.granted, l.held]), 'no server granted or holds a lease');
      await t.throwsAsync(leasing.predict('m', x), { message: /handed out all its session indices/ });
      t.deepEqual((await leases()).map((l) => [l.granted, l.held]), was.map((l) => [l.granted, l.held]));
    } finally {
      await Promise.all([client.close(), leasing.close(), ownerEp.close()]);
    }
  });
});
