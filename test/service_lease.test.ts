// Session-index leases (lib/serve/leases.ts) on a real three-process cluster: leased batch-1
// queries are exact and every server takes its lease; a leased request starts on server1 with no
// notice from server0 (the hop leases remove), where a plain one waits; leases are bearer tokens
// used once, for their model and batch 1 only, bounded per client; an unused one expires and its
// pooled side is freed; a lease the servers forgot (a new setup) costs only the plain path.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { SERVER0, SERVER1, SERVERS } from '../lib/protocol/party';
import type { ServerStatus } from '../lib/serve/messages';
import { ask, rawClient, startLimitedCluster, until } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import type { TestCluster } from './helpers/service';

const TTL = 8000;
let c: TestCluster;
let owner: tfe.PredictionClient;
const nets = { fss: mlp([12, 16, 4]), securenn: mlp([12, 8, 3]) };

test.before(async () => {
  c = await startLimitedCluster({ maxSessionsPerClient: 4, maxSessions: 8, leaseTtlMs: TTL });
  await c.ready();
  owner = await c.connect({ asOwner: true });
  for (const [protocol, m] of Object.entries(nets)) await owner.deploy(m.file, { name: `m-${protocol}`, protocol: protocol as 'fss' });
});

test.after.always(async () => {
  await owner?.close();
  await c?.stop();
});

const status = (): Promise<ServerStatus[]> => owner.status();
const relu = (z: number) => Math.max(z, 0);

async function predictsExactly(t: { true: (v: boolean, m?: string) => void }, client: tfe.PredictionClient, protocol: keyof typeof nets): Promise<void> {
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const p = await client.predict(`m-${protocol}`, { data: x, shape: [1, 12] });
  const want = nets[protocol].forward(x, relu);
  t.true(want.every((w, i) => Math.abs(p.data[i] - w) < 1e-3), `${protocol}: ${Array.from(p.data)} vs ${Array.from(want)}`);
}

test.serial('leased batch-1 queries are exact, and every server takes each lease', async (t) => {
  const before = await status();
  const client = await c.connect();
  for (const protocol of ['fss', 'securenn'] as const) {
    const held = (await status())[0].leases!.held; // what the loop before left unused
    for (let i = 0; i < 5; i++) {
      await predictsExactly(t, client, protocol);
      // The lease for the next query is asked for in the background: let it arrive (a query that
      // overtakes it goes the plain way, which is correct too, but this test counts leases).
      await until(async () => (await status())[0].leases!.held > held, 'the next lease');
      await new Promise((r) => setTimeout(r, 100)); // server0 grants it just before the client reads it
    }
  }
  await client.close();
  const after = await status();
  // The first query per model goes the plain way and leases the next: 4 of 5 per model are leased.
  for (const [i, s] of after.entries()) t.is(s.leases!.used - before[i].leases!.used, 8, `${s.party}: ${JSON.stringify(s.leases)}`);
});

test.serial("a leased request starts on server1 without server0's notice; a plain one waits for it", async (t) => {
  const ep = await rawClient(c);
  try {
    const [granted] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
    t.true(granted.ok && !!granted.lease, JSON.stringify(granted));
    const lease = granted.ok ? granted.lease! : undefined;
    const base = (await status())[1];
    // Plain, to server1 only: it waits for server0's notice (pending, not running).
    void ask(ep, [SERVER1], randomUUID(), { type: 'predict', model: 'm-fss', shape: [1, 12] }, 60_000).catch(() => undefined);
    await until(async () => (await status())[1].pending! > base.pending!, 'the plain request to wait on server1');
    t.is((await status())[1].running, base.running);
    // Leased, to server1 only: it starts at once (and waits for its peers' messages inside the query).
    void ask(ep, [SERVER1], randomUUID(), { type: 'predict', model: 'm-fss', shape: [1, 12], lease: { id: lease!.id, index: lease!.index } }, 60_000).catch(() => undefined);
    await until(async () => (await status())[1].running! > base.running!, 'the leased request to run on server1');
  } finally {
    await ep.close(); // the client's sessions are aborted everywhere
  }
  await until(async () => (await status()).every((s) => s.running === 0 && s.pending === 0), 'the servers to drop the sessions');
});

test.serial('leases are used once, for their model and batch 1, bounded per client; malformed ones are refused', async (t) => {
  const ep = await rawClient(c);
  try {
    const lease = async (model = 'm-fss') => {
      const [r] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model });
      if (!r.ok || !r.lease) throw new Error(JSON.stringify(r));
      return { id: r.lease.id, index: r.lease.index };
    };
    const predict0 = async (req: object) => (await ask(ep, [SERVER0], randomUUID(), { type: 'predict', shape: [1, 12], ...req }))[0];
    const err = (r: { ok: boolean; error?: string }) => (r.ok ? 'ok' : r.error!);
    t.regex(err(await predict0({ model: 'm-fss', lease: { id: randomUUID(), index: 7 } })), /lease [0-9a-f]{8} is unknown or expired; ask for a new one/);
    t.regex(err(await predict0({ model: 'm-fss', lease: { id: 'not-an-id', index: 7 } })), /lease must be \{ id: a lease id, index: a positive integer \}/);
    const a = await lease();
    t.regex(err(await predict0({ model: 'm-fss', shape: [2, 12], lease: a })), /a lease is for a batch-1 query; this one has batch 2/);
    t.regex(err(await predict0({ model: 'm-securenn', lease: a })), /does not match this query \(another model or index\); it is void now/);
    t.regex(err(await predict0({ model: 'm-fss', lease: a })), /is unknown or expired/, 'a voided lease stays void');
    // Bounded per client connection (maxSessionsPerClient = 4).
    const held = await Promise.all([0, 1, 2, 3].map(() => lease()));
    t.is(new Set(held.map((l) => l.index)).size, 4, 'every lease has its own index');
    const [fifth] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
    t.regex(err(fifth), /this client holds 4 unused leases \(maxSessionsPerClient\)/);
    const [unknown] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'nope' });
    t.regex(err(unknown), /unknown model 'nope'/);
  } finally {
    await ep.close();
  }
});

test.serial('an unused lease expires everywhere and its pooled side is freed', async (t) => {
  const before = await status();
  const ep = await rawClient(c);
  try {
    const [r] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
    t.true(r.ok);
  } finally {
    await ep.close();
  }
  await until(async () => {
    const st = await status();
    return st.every((s, i) => s.leases!.expired > before[i].leases!.expired && s.leases!.held === 0) && st[2].pool!.discarded > before[2].pool!.discarded;
  }, 'the lease to expire on every server', TTL + 15_000);
  const st = await status();
  t.log(`after expiry: ${st.map((s) => `${s.party} ${JSON.stringify(s.leases)}`).join('; ')}; server2 pool ${JSON.stringify(st[2].pool)}`);
  t.true(st.every((s) => s.mailbox === 0), JSON.stringify(st.map((s) => s.mailbox)));
});

test.serial('a lease the servers forgot (the cluster was set up again) costs only the plain path', async (t) => {
  const client = await c.connect();
  await predictsExactly(t, client, 'fss'); // and leases the next
  await until(async () => (await status())[0].leases!.held > 0, 'the lease');
  const epoch = (await status())[0].epoch;
  c.procs.get('server1')!.child.kill('SIGKILL');
  await c.procs.get('server1')!.exited;
  c.restart('server1');
  await c.ready();
  t.not((await status())[0].epoch, epoch);
  const refusedBefore = c.logs.filter((l) => /server0.*lease [0-9a-f]{8} is unknown or expired/.test(l)).length;
  await predictsExactly(t, client, 'fss');
  await until(async () => c.logs.filter((l) => /server0.*lease [0-9a-f]{8} is unknown or expired/.test(l)).length > refusedBefore, "server0's refusal of the forgotten lease in its log", 5000);
  await predictsExactly(t, client, 'fss');
  await client.close();
});
