// Session-index leases (lib/serve/leases.ts) and masked inputs (lib/serve/input_mask.ts) on a real
// three-process cluster: leased batch-1 queries are exact and every server takes its lease; a
// leased request starts on server1 with no notice from server0 (the hop leases remove), where a
// plain one waits; leases are bearer tokens used once, for their model and batch 1 only, bounded
// per client; a lease that ends at server0 without a query that ran ends on server1 and server2 too; a leased query's input comes masked (one round fewer), and a client that sends the
// two servers different masked inputs gets noise; an unused lease expires and its pooled side is
// freed; a lease the servers forgot (a new setup) costs only the plain path.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { WebSocketTransport } from '../lib/net/ws_transport';
import { Party, SERVER0, SERVER1, SERVERS, tag } from '../lib/protocol/party';
import { output, shareInput } from '../lib/protocol/pond/share';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { CLIENT, inputOp, OUTPUT_OP } from '../lib/serve/programs';
import type { ServerStatus } from '../lib/serve/messages';
import { ask, queryTakingLease, rawClient, startLimitedCluster, until } from './helpers/hostile_client';
import { poolSettled } from './helpers/service';
import { mlp } from './helpers/model_files';
import type { TestCluster } from './helpers/service';

const TTL = 8000;
let c: TestCluster;
let owner: tfe.PredictionClient;
const nets = { fss: mlp([12, 16, 4]), securenn: mlp([12, 8, 3]) };
/** One Dense layer: no round between server0 and server1 before the output. */
const linear = mlp([12, 5]);

test.before(async () => {
  // One address for every test's clients, whose unused leases outlive them: the per-address share
  // is off (test/service_address_share.test.ts has it).
  c = await startLimitedCluster({ maxSessionsPerClient: 4, maxSessions: 32, leaseTtlMs: TTL, maxAddressPercent: 100 });
  await c.ready();
  owner = await c.connect({ asOwner: true });
  for (const [protocol, m] of Object.entries(nets)) await owner.deploy(m.file, { name: `m-${protocol}`, protocol: protocol as 'fss' });
  for (const protocol of ['fss', 'securenn', 'pond'] as const) await owner.deploy(linear.file, { name: `lin-${protocol}`, protocol });
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

test.serial('queries side by side on one model ask for one next lease between them, not one each', async (t) => {
  // One lease is kept per model: each further one granted beside it replaced it, and the replaced
  // one held a pooled recording on every server, and a place in the client's bound, until expiry.
  const client = await c.connect();
  try {
    const before = (await status())[0].leases!;
    await Promise.all(Array.from({ length: 4 }, () => predictsExactly(t, client, 'fss')));
    const after = (await status())[0].leases!;
    t.is(after.granted - before.granted, 1, JSON.stringify({ before, after }));
    // The next query takes it (no lease is left unused).
    await predictsExactly(t, client, 'fss');
    await until(async () => (await status())[0].leases!.used - before.used === 1, 'the lease to be used');
  } finally {
    await client.close();
  }
});

test.serial("an owner whose config has another fracBits than the cluster's is refused, not deployed at the wrong scale", async (t) => {
  // Its weights would be encoded 16x too large (20 bits against 16), and every query answer wrong.
  const file = path.join(path.dirname(c.config), 'cluster-frac20.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(c.config, 'utf8')), fracBits: 20 }));
  const other = await tfe.PredictionClient.connect(file, { asOwner: true });
  try {
    await t.throwsAsync(other.deploy(linear.file, { name: 'frac20', protocol: 'pond' }), { message: /the cluster computes with fracBits 16, but the owner's config says 20/ });
    t.false((await owner.models()).some((m) => m.name === 'frac20'));
  } finally {
    await other.close();
  }
});

test.serial('a closed client says so at once', async (t) => {
  const client = await c.connect();
  await predictsExactly(t, client, 'fss');
  await client.close();
  const t0 = Date.now();
  await t.throwsAsync(client.predict('m-fss', { data: new Float64Array(12), shape: [1, 12] }), { message: /this client is closed: connect again/ });
  t.true(Date.now() - t0 < 1000, 'not after waiting for its links'); // before: "... are unreachable" after 5 s
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

test.serial("a client's lease sent beside server0's index, another request than server0 admitted, or leaseNext to server1 alone: refused, every index freed", async (t) => {
  const ep = await rawClient(c);
  const err = (r: { ok: boolean; error?: string }) => (r.ok ? 'ok' : r.error!);
  try {
    const before = await status();
    const [granted] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
    const lease = granted.ok ? granted.lease! : undefined;
    t.truthy(lease, JSON.stringify(granted));
    // Plain to server0 (which sends its start notice), then leased to server1 and server2.
    const s1 = randomUUID();
    const plain = ask(ep, [SERVER0], s1, { type: 'predict', model: 'm-fss', shape: [1, 12] }, 60_000);
    await until(async () => (await status()).slice(1).every((s, i) => s.pending! > before[i + 1].pending!), "server0's notice to wait on server1 and server2");
    const leased = await ask(ep, SERVERS.slice(1), s1, { type: 'predict', model: 'm-fss', shape: [1, 12], lease: { id: lease!.id, index: lease!.index } });
    for (const r of leased) t.regex(err(r), /two session indices came for this request/);
    ep.abortSession(s1, 'refused', SERVERS); // as PredictionClient does when a server refuses
    t.false((await plain)[0].ok, "server0's query ends with the client's abort");
    // The other order: the leased request runs on server1 and server2 before server0's notice comes.
    const [again] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
    const lease2 = again.ok ? again.lease! : undefined;
    const s0 = randomUUID(), running = (await status())[1].running!;
    const leasedFirst = ask(ep, SERVERS.slice(1), s0, { type: 'predict', model: 'm-fss', shape: [1, 12], lease: { id: lease2!.id, index: lease2!.index } }, 60_000);
    await until(async () => (await status())[1].running! > running, 'the leased request to run on server1');
    const plainAfter = ask(ep, [SERVER0], s0, { type: 'predict', model: 'm-fss', shape: [1, 12] }, 60_000);
    // server2's side of a pooled index was shipped ahead, so it may have answered already; server1's query ends refused.
    t.false((await leasedFirst)[0].ok, JSON.stringify(await leasedFirst));
    ep.abortSession(s0, 'refused', SERVERS);
    t.false((await plainAfter)[0].ok, JSON.stringify(await plainAfter));
    // Another batch to server2 than server0 and server1 admitted: server2 deals nothing for it.
    const s2 = randomUUID();
    const computing = ask(ep, SERVERS.slice(0, 2), s2, { type: 'predict', model: 'm-fss', shape: [2, 12] }, 60_000);
    const [dealer] = await ask(ep, [SERVERS[2]], s2, { type: 'predict', model: 'm-fss', shape: [64, 12] }, 60_000);
    t.regex(err(dealer), /this request differs from the one server0 admitted/);
    ep.abortSession(s2, 'refused', SERVERS);
    t.true((await computing).every((r) => !r.ok), JSON.stringify(await computing));
    // leaseNext to server1 alone: server0 says no lease comes, so server1 does not wait for one.
    const s3 = randomUUID(), t0 = Date.now();
    const others = ask(ep, [SERVER0, SERVERS[2]], s3, { type: 'predict', model: 'lin-fss', shape: [1, 12] }, 60_000);
    const [one] = await ask(ep, [SERVER1], s3, { type: 'predict', model: 'lin-fss', shape: [1, 12], leaseNext: true }, 60_000);
    t.regex(err(one), /this request differs from the one server0 admitted/);
    t.true(Date.now() - t0 < 10_000, `answered in ${Date.now() - t0} ms`);
    ep.abortSession(s3, 'refused', SERVERS); // this client sent no input: the others' queries end here
    await others;
    await until(async () => (await status()).every((s) => s.running === 0 && s.pending === 0), 'the servers to drop the sessions');
    // server2 handed back both indices of the first session (the lease's and server0's).
    t.true((await status())[2].pool!.discarded >= before[2].pool!.discarded + 2, JSON.stringify((await status())[2].pool));
  } finally {
    await ep.close();
  }
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
    t.regex(err(await predict0({ model: 'm-securenn', lease: a })), /does not match this query \(another model, index, or masked input shape\); it is void now/);
    t.regex(err(await predict0({ model: 'm-fss', lease: a })), /is unknown or expired/, 'a voided lease stays void');
    // A masked input needs a lease made with a mask for its shape (a query's leaseNext), not a bare one.
    t.regex(err(await predict0({ model: 'm-fss', lease: await lease(), maskedInput: true })), /does not match this query/);
    t.regex(err(await predict0({ model: 'm-fss', maskedInput: true })), /maskedInput must be true, and only with a lease/);
    t.regex(err(await predict0({ model: 'm-fss', shape: [2, 12], leaseNext: true })), /leaseNext must be true, and only for a batch-1 query/);
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

test.serial("a lease voided or half used at server0 alone, or taken by a query that failed there, is dropped on server1 and server2 at once, its pooled side freed", async (t) => {
  // Without server0's unlease notice, server1 and server2 would hold each of these until TTL + 5 s
  // (server1 with its recording), while server0 already let the client take more.
  const ep = await rawClient(c);
  const err = (r: { ok: boolean; error?: string }) => (r.ok ? 'ok' : r.error!);
  const heldAt = async () => (await status()).map((s) => s.leases!.held);
  try {
    const base = await heldAt(), discarded = (await status())[2].pool!.discarded;
    const lease = async () => {
      const [r] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
      if (!r.ok || !r.lease) throw new Error(JSON.stringify(r));
      return { id: r.lease.id, index: r.lease.index };
    };
    const droppedEverywhere = async (what: string) => {
      const t0 = Date.now();
      await until(async () => (await heldAt()).every((h, i) => h === base[i]), `${what}: the lease to be dropped on every server`, TTL - 1000);
      t.log(`${what}: dropped everywhere ${Date.now() - t0} ms after server0 ended it`);
    };
    // 1. Voided at server0 (another model): nothing else sent.
    const a = await lease();
    await until(async () => (await heldAt()).every((h, i) => h === base[i] + 1), 'the lease on every server');
    t.regex(err((await ask(ep, [SERVER0], randomUUID(), { type: 'predict', model: 'm-securenn', shape: [1, 12], lease: a }))[0]), /it is void now/);
    await droppedEverywhere('voided');
    // A request that names it on server1 now is refused at once (no notice of it will come), so
    // an honest client whose lease was dropped retries the plain way instead of waiting 10 s.
    const t1 = Date.now();
    const [late] = await ask(ep, [SERVER1], randomUUID(), { type: 'predict', model: 'm-fss', shape: [1, 12], lease: a });
    t.regex(err(late), /server1: lease [0-9a-f]{8} is unknown or expired/);
    t.true(Date.now() - t1 < 5000, `refused after ${Date.now() - t1} ms`);
    // 2. Used at server0 alone: its query waits for an input that never comes; the client aborts it there.
    const b = await lease();
    const s = randomUUID();
    const half = ask(ep, [SERVER0], s, { type: 'predict', model: 'm-fss', shape: [1, 12], lease: b }, 60_000);
    await until(async () => (await status())[0].running! > 0, 'the half-used query to run on server0');
    ep.abortSession(s, 'gone', [SERVER0]);
    t.false((await half)[0].ok);
    await droppedEverywhere('half used');
    // 3. A plain query with leaseNext that fails at server0: the lease it took for the next one goes too.
    const s2 = randomUUID();
    const failing = ask(ep, [SERVER0], s2, { type: 'predict', model: 'm-fss', shape: [1, 12], leaseNext: true }, 60_000);
    await until(async () => (await heldAt())[0] > base[0], 'server0 to lease the next index');
    ep.abortSession(s2, 'gone', SERVERS);
    t.false((await failing)[0].ok);
    await droppedEverywhere('leased next by a failed query');
    // server2 freed the pooled sides of all three.
    t.true((await status())[2].pool!.discarded >= discarded + 3, JSON.stringify((await status())[2].pool));
  } finally {
    await ep.close();
  }
  await until(async () => (await status()).every((s) => s.running === 0 && s.pending === 0), 'the servers to drop the sessions');
});

test.serial("a leased query run with server0 and server1 only (server2 left out: its recording was shipped) ends server2's lease soon after, not at expiry", async (t) => {
  // Left alone, server2 would hold such a lease until TTL + 5 s; a client doing this over and over
  // would fill its book and push out honest clients' leases.
  const ep = await rawClient(c);
  const fb = 16;
  try {
    await poolSettled(owner);
    const base = (await status())[2].leases!.held;
    const [granted] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'm-fss' });
    const lease = granted.ok ? granted.lease! : undefined;
    t.truthy(lease, JSON.stringify(granted));
    await until(async () => (await status())[2].leases!.held === base + 1, "the lease on server2");
    const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
    const id = randomUUID();
    const party = new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), id), { fracBits: fb, truncation: 'local' });
    const [answers, , y] = await Promise.all([
      ask(ep, [SERVER0, SERVER1], id, { type: 'predict', model: 'm-fss', shape: [1, 12], lease: { id: lease!.id, index: lease!.index } }),
      shareInput(party, inputOp(0), CLIENT, RingTensor.fromFloat64Array(x, [1, 12], { fracBits: fb })),
      output(party, OUTPUT_OP, null, CLIENT),
    ]);
    t.true(answers.every((r) => r.ok), JSON.stringify(answers));
    const got = Array.from(y!.toBigInt64Array(), (v) => Number(v) / 2 ** fb), want = nets.fss.forward(x, relu);
    t.true(want.every((w, i) => Math.abs(got[i] - w) < 1e-3), `${got} vs ${Array.from(want)}`);
    const t0 = Date.now();
    await until(async () => (await status())[2].leases!.held === base, "server2 to drop the used lease", TTL);
    t.log(`server2 dropped it ${Date.now() - t0} ms after the query (expiry: ${TTL + 5000} ms)`);
  } finally {
    await ep.close();
  }
});

test.serial('undeploying a model voids its leases on every server: one deployed again under its name never runs on them', async (t) => {
  await owner.deploy(nets.fss.file, { name: 'tmp-fss', protocol: 'fss' });
  const ep = await rawClient(c);
  try {
    const base = (await status()).map((s) => s.leases!.held);
    const [granted] = await ask(ep, SERVERS, randomUUID(), { type: 'lease', model: 'tmp-fss' });
    const lease = granted.ok ? granted.lease! : undefined;
    await until(async () => (await status()).every((s, i) => s.leases!.held === base[i] + 1), 'the lease everywhere');
    await owner.undeploy('tmp-fss');
    // At most the count before the grant (a lease of an earlier test may expire meanwhile: one did
    // on a loaded CI host), not the one above it that this lease made.
    const after = (await status()).map((s) => s.leases!.held);
    t.true(after.every((h, i) => h <= base[i]), `void on all three at once: ${after} after, ${base} before the grant`);
    await owner.deploy(nets.fss.file, { name: 'tmp-fss', protocol: 'fss' });
    const [r] = await ask(ep, [SERVER0], randomUUID(), { type: 'predict', model: 'tmp-fss', shape: [1, 12], lease: { id: lease!.id, index: lease!.index } });
    t.regex(r.ok ? 'ok' : r.error!, /is unknown or expired/);
  } finally {
    await ep.close();
    await owner.undeploy('tmp-fss');
  }
});

test.serial('a leased query sends its input masked: exact, one round fewer on each compute server', async (t) => {
  for (const protocol of ['fss', 'securenn'] as const) {
    const client = await c.connect();
    const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
    const want = nets[protocol].forward(x, relu);
    const plain = await client.predict(`m-${protocol}`, { data: x, shape: [1, 12] }); // the first: no lease yet; it brings the next
    const masked = await client.predict(`m-${protocol}`, { data: x, shape: [1, 12] });
    for (const p of [plain, masked]) t.true(want.every((w, i) => Math.abs(p.data[i] - w) < 1e-3), `${protocol}: ${Array.from(p.data)} vs ${Array.from(want)}`);
    // server0 and server1 no longer open the input for the first product (input_mask.ts).
    for (const i of [0, 1]) t.is(masked.serverTraffic[i].rounds, plain.serverTraffic[i].rounds - 1, `${protocol} server${i}: ${JSON.stringify([plain.serverTraffic[i], masked.serverTraffic[i]])}`);
    await client.close();
  }
});

test.serial('a linear model (no round before the output) gets every leased query masked', async (t) => {
  // server1 sends its share of the next query's mask only once it holds the lease's notice (or
  // server0's word that there is none): with no message from server0 before the output, server1
  // used to look for the lease before its notice had arrived, and the next query went unmasked,
  // at random.
  for (const protocol of ['fss', 'securenn', 'pond'] as const) {
    const client = await c.connect();
    const rounds: number[][] = [];
    for (let i = 0; i < 8; i++) {
      const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
      const p = await client.predict(`lin-${protocol}`, { data: x, shape: [1, 12] });
      const want = linear.forward(x, relu);
      t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 1e-3), `${protocol}: ${Array.from(p.data)} vs ${Array.from(want)}`);
      rounds.push([0, 1].map((s) => p.serverTraffic[s].rounds));
    }
    await client.close();
    // The first query goes plain (no lease yet); each later one opens nothing for the product.
    const [first, ...leased] = rounds;
    for (const r of leased) t.deepEqual(r, first.map((n) => n - 1), `${protocol}: rounds per query ${JSON.stringify(rounds)}`);
  }
});

test.serial('a query whose next lease is refused (its client holds its limit) answers at once, and the next goes plain', async (t) => {
  // maxSessionsPerClient is 4: one query on each of five models leaves the client four unused
  // leases, so server0 grants the fifth query's none, and tells server1, which waits for a lease
  // notice before its mask share otherwise.
  const client = await c.connect();
  const granted = async () => (await status())[0].leases!.granted;
  const before = await granted();
  for (const protocol of ['fss', 'securenn'] as const) await predictsExactly(t, client, protocol);
  for (const protocol of ['securenn', 'pond'] as const) await client.predict(`lin-${protocol}`, { data: new Float64Array(12), shape: [1, 12] });
  t.is(await granted(), before + 4);
  const rounds: number[][] = [];
  for (let i = 0; i < 2; i++) {
    const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
    const t0 = Date.now();
    const p = await client.predict('lin-fss', { data: x, shape: [1, 12] });
    t.true(Date.now() - t0 < 5000, `answered in ${Date.now() - t0} ms`);
    const want = linear.forward(x, relu);
    t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 1e-3), `${Array.from(p.data)} vs ${Array.from(want)}`);
    rounds.push([0, 1].map((s) => p.serverTraffic[s].rounds));
  }
  t.is(await granted(), before + 4, 'the client held its limit: no lease for lin-fss');
  t.deepEqual(rounds[1], rounds[0], 'without a lease the second query goes plain, as the first');
  await client.close();
});

test.serial("a client's last query ({ last: true }) takes no lease, and still uses the one it holds", async (t) => {
  const client = await c.connect();
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const granted = async () => (await status())[0].leases!.granted;
  const g0 = await granted();
  await client.predict('m-fss', { data: x, shape: [1, 12] }); // takes the next one's lease
  t.is(await granted(), g0 + 1);
  const used = (await status())[0].leases!.used;
  const last = await client.predict('m-fss', { data: x, shape: [1, 12] }, { last: true });
  t.is(await granted(), g0 + 1, 'the last query leased nothing');
  t.is((await status())[0].leases!.used, used + 1, 'and used the lease it held');
  t.true(nets.fss.forward(x, relu).every((w, i) => Math.abs(last.data[i] - w) < 1e-3));
  await client.close();
});

test.serial('a client that sends server0 and server1 different masked inputs gets a pseudorandom output', async (t) => {
  const ep = await rawClient(c);
  const fb = 16;
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const want = nets.fss.forward(x, relu);
  const session = () => {
    const id = randomUUID();
    return { id, party: new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), id), { fracBits: fb, truncation: 'local' }) };
  };
  const decode = (t: RingTensor) => Array.from(t.toBigInt64Array(), (v) => Number(v) / 2 ** fb);
  try {
    // A plain query that asks for the next lease and its mask, then that leased query with the
    // masked input m sent to server0 and m + d to server1 (d = 0: honest).
    const query = async (d: bigint): Promise<number[]> => {
      const ring = RingTensor.fromFloat64Array(x, [1, 12], { fracBits: fb });
      const { answers: answers1, mask } = await queryTakingLease(ep, 'm-fss', ring, fb);
      const lease = answers1[0].ok ? answers1[0].lease : undefined;
      if (!lease || !mask) throw new Error(`no lease with a mask: ${JSON.stringify(answers1[0])}`);
      const m = BigInt64Array.from(ring.toBigInt64Array(), (v, i) => BigInt.asIntN(64, v - mask.toBigInt64Array()[i]));
      const m1 = BigInt64Array.from(m, (v, i) => (i === 3 ? BigInt.asIntN(64, v + d) : v));
      const q = session();
      const [answers2, , , y] = await Promise.all([
        ask(ep, SERVERS, q.id, { type: 'predict', model: 'm-fss', shape: [1, 12], lease: { id: lease.id, index: lease.index }, maskedInput: true }),
        q.party.sendTensor(SERVER0, tag(inputOp(0), 'input'), RingTensor.fromBigInt64Array(m, [1, 12])),
        q.party.sendTensor(SERVER1, tag(inputOp(0), 'input'), RingTensor.fromBigInt64Array(m1, [1, 12])),
        output(q.party, OUTPUT_OP, null, CLIENT),
      ]);
      t.true(answers2.every((res) => res.ok), JSON.stringify(answers2));
      return decode(y!);
    };
    const honest = await query(0n);
    t.true(want.every((w, i) => Math.abs(honest[i] - w) < 1e-3), `consistent masked inputs: ${honest} vs ${Array.from(want)}`);
    // A difference of one unit in one element: without the check (step 4) the output would move a
    // little; with it, every output is a pseudorandom ring element (|y| < 2^20 for all four has
    // probability about 2^-108), and a second try gives another.
    for (const d of [1n, 1n << 40n]) {
      const [y1, y2] = [await query(d), await query(d)];
      t.true(y1.every((v) => Math.abs(v) > 2 ** 20), `d = ${d}: ${y1}`);
      t.true(y1.every((v, i) => v !== y2[i]), `d = ${d}: two tries gave ${y1} and ${y2}`);
    }
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
