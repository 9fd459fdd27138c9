// Renewing a setup before its session indices run out (lib/serve/epoch_setup.ts): on a
// three-process cluster whose setups hand out 40 indices each, clients run far more queries than
// that, several at once, through renewals: every answer is the plaintext model's, nothing fails,
// and once the grace is over nothing of the old setups is held (whatever a server holds outside
// the current pool counts in `mailbox`). Without renewals the cluster refuses every query once
// its 40 indices are spent, so this cannot pass without them.
import test from 'ava';

import type { ServerStatus } from '../lib/serve/messages';
import { RENEW_WHEN_LEFT, RENEWAL_GRACE_MS } from '../lib/serve/epoch_setup';
import { startLimitedCluster, until } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import type { TestCluster } from './helpers/service';
import type { PredictionClient } from '../lib/serve/client';

const relu = (z: number) => Math.max(z, 0);
const net = mlp([12, 16, 4]);

/**
 * A cluster whose setups hand out 40 session indices each (`extra`: more cluster.json fields),
 * with `net` deployed under FSS as `model` and a client that takes no leases (each query takes
 * one index, or one reserved by the pool); stopped after `body` whatever happens.
 */
async function withSmallSetups(extra: Record<string, unknown>, model: string, body: (c: TestCluster, owner: PredictionClient, client: PredictionClient) => Promise<void>): Promise<void> {
  const c = await startLimitedCluster({ sessionsPerSetup: 40, maxPoolRecordings: 10, ...extra });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(net.file, { name: model, protocol: 'fss' });
    await body(c, owner, await c.connect({ leases: false }));
  } finally {
    await c.stop();
  }
}

test('queries run on through setup renewals, several at once, exact, none failing; the old setups are freed after their grace', async (t) => {
  const c = await startLimitedCluster({ sessionsPerSetup: 40, maxPoolRecordings: 10, precomputePool: 4 });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    const nets = { fss: mlp([12, 16, 4]), pond: mlp([12, 5]) }; // Pond's model linear: its relu would need calibrating
    for (const [protocol, m] of Object.entries(nets)) await owner.deploy(m.file, { name: `m-${protocol}`, protocol: protocol as 'fss' });
    const first = (await owner.status())[0].epoch;
    const clients = await Promise.all([0, 1, 2].map(() => c.connect()));
    let wrong = 0, done = 0;
    // Three clients at once (leases on, as by default), 50 queries each: 150 queries, at least
    // 150 indices (more with the pool's reservations), so three or more renewals.
    await Promise.all(clients.map(async (client, k) => {
      const protocol = k === 1 ? 'pond' : 'fss';
      for (let i = 0; i < 50; i++) {
        const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
        const p = await client.predict(`m-${protocol}`, { data: x, shape: [1, 12] });
        const want = nets[protocol].forward(x, relu);
        if (!want.every((w, j) => Math.abs(p.data[j] - w) < 2e-3)) wrong++;
        done++;
      }
    }));
    t.is(done, 150);
    t.is(wrong, 0);
    const renewals = c.logs.filter((l) => l.includes('renewing the setup')).length;
    t.true(renewals >= 3, `${renewals} renewals`);
    t.not((await owner.status())[0].epoch, first);
    // Operators see it: every server counts the renewals it began; server0 the indices left.
    const setups = (await owner.status()).map((s) => s.setup!);
    t.true(setups.every((x) => x.renewals === renewals), JSON.stringify(setups));
    t.true(setups[0].indicesLeft !== null && setups[0].indicesLeft > 0 && setups[0].indicesLeft <= 40, JSON.stringify(setups));
    t.deepEqual(setups.slice(1).map((x) => x.indicesLeft), [null, null]);
    t.deepEqual(c.logs.filter((l) => /query-failed|failed:|refused a request/.test(l)), [], 'no query failed or was refused');
    for (const client of clients) await client.close();
    // After the grace, nothing of the old setups is held: no mailbox, and only the current setup's pool.
    await new Promise((r) => setTimeout(r, RENEWAL_GRACE_MS));
    await until(async () => (await owner.status()).every((s) => s.running === 0 && s.pending === 0 && s.mailbox === 0), 'the servers to hold nothing of the old setups', 10_000);
    const st: ServerStatus[] = await owner.status();
    t.log(st.map((s) => `${s.party}: epoch ${s.epoch?.slice(0, 8)} prefetched ${JSON.stringify(s.prefetched)} pool ${JSON.stringify(s.pool)}`).join('\n'));
    await owner.close();
  } finally {
    await c.stop();
  }
});

test('a deploy that arrives when the setup runs low renews it and runs in the new setup (no deadlock with its masking)', async (t) => {
  // No pool and no leases: each query and deploy takes exactly one session index, so the deploy
  // can be the request that finds fewer than an eighth left (5 of 40) and renews the setup. The new
  // setup must not wait for that deploy (which waits for the setup): it would time out after
  // setupTimeoutMs, and every query with it.
  await withSmallSetups({ precomputePool: 0, setupTimeoutMs: 20_000 }, 'first', async (c, owner, client) => {
    const predict = async (model: string) => {
      const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
      const p = await client.predict(model, { data: x, shape: [1, 12] });
      const want = net.forward(x, relu);
      t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 2e-3), `${Array.from(p.data)} vs ${Array.from(want)}`);
    };
    const left = async () => (await owner.status())[0].setup!.indicesLeft!;
    while ((await left()) > 5) await predict('first');
    t.is(await left(), 5, 'one index at a time');
    await predict('first'); // admitted at 5 (not below an eighth): no renewal; 4 left
    t.is(c.logs.filter((l) => l.includes('renewing the setup')).length, 0);
    const t0 = Date.now();
    await owner.deploy(net.file, { name: 'second', protocol: 'fss' });
    const took = Date.now() - t0;
    t.is(c.logs.filter((l) => l.includes('renewing the setup')).length, 1, 'the deploy renewed the setup');
    t.true(took < 10_000, `the deploy took ${took} ms`);
    await predict('second');
    await predict('first');
  });
});

test("a query waiting for its renewed setup, which server2 (stopped) cannot finish, ends at its own timeout, not the setup's", async (t) => {
  // 40 indices a setup, none reserved by the pool: the query that finds fewer than 5 left renews
  // the setup and runs in the new one, waiting for it to be ready.
  await withSmallSetups({ precomputePool: 0, queryTimeoutMs: 2000, setupTimeoutMs: 20_000 }, 'm', async (c, owner, client) => {
    const server2 = c.procs.get('server2')!.child;
    const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
    const left = async () => (await owner.status())[0].setup!.indicesLeft!;
    for (let i = 0; (await left()) >= 40 * RENEW_WHEN_LEFT && i < 40; i++) await client.predict('m', { data: x, shape: [1, 12] });
    t.true((await left()) < 40 * RENEW_WHEN_LEFT);
    server2.kill('SIGSTOP');
    t.teardown(() => void server2.kill('SIGCONT'));
    const t0 = Date.now();
    const e = await t.throwsAsync(client.predict('m', { data: x, shape: [1, 12] }));
    const ms = Date.now() - t0;
    t.log(`the query ended after ${ms} ms: ${e?.message}`);
    t.true(c.logs.some((l) => l.includes('renewing the setup')), 'the query renewed the setup');
    t.regex(e?.message ?? '', /timed out after 2000 ms/);
    // The setup's own timeout (20 s) would end it; the client gives up after 12 s otherwise.
    t.true(ms < 4000, `${ms} ms`);
    // Both compute servers ended it (the build before still waited there for the setup).
    for (const party of ['server0', 'server1']) t.true(c.logs.some((l) => l.startsWith(`[tfe ${party}]`) && /\(predict 'm' .*\) failed: .*timed out after 2000 ms/.test(l)), party);
    server2.kill('SIGCONT');
  });
});

test("the queries after a renewal take the old setup's pooled indices while the new setup's pool is dealt: none deals online", async (t) => {
  await withSmallSetups({ precomputePool: 4 }, 'm', async (c, _owner, client) => {
    const renewals = () => c.logs.filter((l) => l.includes('renewing the setup')).length;
    // Each query's offlineBytes: what server2 shipped for it ahead (absent: dealt while it ran).
    const seen: { renewed: boolean; offline: number; exact: boolean }[] = [];
    // Until the third query after the second renewal.
    for (let i = 0, last = -1; i < 100 && (last < 0 || i <= last + 3); i++) {
      const before = renewals();
      const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
      const p = await client.predict('m', { data: x, shape: [1, 12] });
      const want = net.forward(x, relu);
      seen.push({ renewed: renewals() > before, offline: p.offlineBytes ?? 0, exact: want.every((w, j) => Math.abs(p.data[j] - w) < 2e-3) });
      if (renewals() === 2 && last < 0) last = i;
      await new Promise((r) => setTimeout(r, 100)); // the pool refills between queries
    }
    t.log(seen.map((s) => (s.renewed ? 'R' : '') + (s.offline > 0 ? 'p' : 'o')).join(' '));
    t.true(renewals() >= 2, `${renewals()} renewals`);
    t.true(seen.every((s) => s.exact), 'every answer is the plaintext model\'s');
    // The query that renewed the setup and the three after it, at each renewal (the first query
    // after the deploy may find the pool still being dealt).
    const after = seen.flatMap((s, i) => (s.renewed ? seen.slice(i, i + 4) : []));
    t.log(`offline bytes of the queries from each renewal on: ${after.map((s) => s.offline).join(' ')}`);
    t.is(after.length, 4 * renewals());
    t.true(after.every((s) => s.offline > 0), 'every one was dealt ahead');
  });
});
