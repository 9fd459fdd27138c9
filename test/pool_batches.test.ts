// The offline pool beyond batch 1: server0 pools one query ahead of the batch size a client last
// used (server.ts #indexFor), so a client that sends batches of the same size finds server2's side
// shipped ahead, exactly as batch-1 queries do. A query of another size moves the pool to that
// size and frees the old size's recording everywhere (server2 drops it, the compute servers end
// its pool session), so a client cycling through sizes cannot pile recordings up.
import test from 'ava';

import * as tfe from '../lib';
import { DEFAULT_LIMITS, estimateQueryBytes, poolDepth } from '../lib/serve/limits';
import { until, withOwnerCluster } from './helpers/hostile_client';
import { denseTopology as dense, mlp } from './helpers/model_files';

test('poolDepth for a batch above 1: one query ahead when its material fits maxQueryBytes, none when it does not', (t) => {
  const limits = { ...DEFAULT_LIMITS, precomputePool: 8 };
  const m = { topology: dense([32, 10], 16), protocol: 'fss' as const, inputShape: [16] };
  t.is(poolDepth(limits, m), 8);
  t.is(poolDepth(limits, m, 4), 1);
  t.is(poolDepth(limits, m, 128), 1);
  // Just below what a recording of 1000 rows holds on each compute server.
  const each = estimateQueryBytes(m, 1000) - (24 << 20);
  t.is(poolDepth({ ...limits, maxQueryBytes: each }, m, 1000), 1);
  t.is(poolDepth({ ...limits, maxQueryBytes: each - 1 }, m, 1000), 0);
  t.is(poolDepth({ ...limits, precomputePool: 0 }, m, 4), 0, 'precomputePool 0 pools nothing');
});

test('batches of one size are pooled one ahead; another size moves the pool and frees the old recording on all three servers', async (t) => {
  const m = mlp([16, 32, 10]);
  await withOwnerCluster({}, async (c, owner) => {
    await owner.deploy(m.file, { name: 'small', protocol: 'fss' });
    const status = () => owner.status();
    await until(async () => (await status())[2].pool!.recorded >= 8, 'the batch-1 pool to fill');
    await until(async () => (await status())[0].prefetched!.messages > 0 && (await status())[1].prefetched!.messages > 0, 'the batch-1 pool to arrive');
    await new Promise((r) => setTimeout(r, 300));
    const base = (await status())[0].prefetched!.bytes;
    const client = await c.connect();
    const ask = async (batch: number) => {
      const x = Float64Array.from({ length: 16 * batch }, () => Math.random() * 2 - 1);
      x[0] = 0;
      const p = await client.predict('small', { data: x, shape: [batch, 16] });
      const want = m.forward(x, (z) => Math.max(z, 0));
      t.is(p.data.length, want.length);
      t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 1e-3), `batch ${batch}`);
      return p;
    };
    // The first query of a size runs online (server2 deals while it runs) ...
    const first = await ask(4);
    t.is(first.offlineBytes, 0);
    t.true(first.serverTraffic[2].bytes > 0);
    // ... and has the next one of that size pooled: server2 sends nothing online, and what it
    // shipped ahead is byte for byte what it sent online the first time.
    const second = await ask(4);
    t.is(second.serverTraffic[2].bytes, 0, 'server2 sends nothing online');
    t.is(second.offlineBytes, first.serverTraffic[2].bytes);
    t.is(second.serverTraffic[0].bytes, first.serverTraffic[0].bytes, "server0's online traffic is the same either way");
    // The recording after the second query is made; a query of another size then drops it.
    await until(async () => (await status())[2].pool!.recorded >= 10, 'the next batch-4 recording');
    const before = (await status())[2].pool!;
    t.is((await ask(3)).offlineBytes, 0, 'a new size runs online once');
    await until(async () => (await status())[2].pool!.discarded > before.discarded, "server2 to drop the batch-4 recording");
    t.true((await ask(3)).offlineBytes > 0, 'then it is pooled');
    // A client cycling through sizes: each size is pooled once and dropped by the next, so what
    // the compute servers hold stays the batch-1 pool (plus the client's lease) and one recording.
    for (let b = 2; b <= 9; b++) await ask(b);
    const recorded = (await status())[2].pool!.recorded;
    const last = await ask(9);
    t.true(last.offlineBytes > 0);
    await until(async () => (await status())[2].pool!.recorded > recorded && (await status())[2].pool!.making === 0, 'the last top-up');
    await new Promise((r) => setTimeout(r, 500));
    const st = await status();
    t.log({ base, held: st.map((s) => s.prefetched), pool: st[2].pool, batch9: last.offlineBytes });
    for (const s of [st[0], st[1]]) t.true(s.prefetched!.bytes <= base + base / 8 + last.offlineBytes / 2 + 4096, `${s.party} holds ${s.prefetched!.bytes} bytes ahead`);
    t.true(st[2].pool!.held <= 8 + 1 + 1, JSON.stringify(st[2].pool));
    await client.close();
  });
});

test('a recording discarded while server2 is still dealing it stops quietly: server2 keeps serving', async (t) => {
  // A batch of 64 through a 512-unit layer: 32768 gates, keys in several chunks, so the run ahead
  // that follows each batch-64 query is still dealing when the batch-3 query moves the pool and
  // discards it. A dealt message then failed with nothing yet awaiting it, and the unhandled
  // rejection ended server2's process (bench:table's FSS B at batch 128 then 72).
  const m = mlp([16, 512, 10]);
  await withOwnerCluster({}, async (c, owner) => {
    await owner.deploy(m.file, { name: 'wide', protocol: 'fss' });
    const client = await c.connect();
    for (let round = 0; round < 3; round++)
      for (const batch of [64, 3]) {
        const x = Float64Array.from({ length: 16 * batch }, () => Math.random() * 2 - 1);
        const p = await client.predict('wide', { data: x, shape: [batch, 16] });
        const want = m.forward(x, (z) => Math.max(z, 0));
        t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 1e-3), `round ${round}, batch ${batch}`);
      }
    const st = await owner.status();
    t.true(st[2].pool!.discarded >= 3, JSON.stringify(st[2].pool));
    t.false(c.logs.some((l) => /Dropped|unhandled|exited|Node\.js v/.test(l)), c.logs.filter((l) => /server2/.test(l)).slice(-5).join(' | '));
    await client.close();
  });
});

test("pond: a batch size is pooled the same way (server2's triples and masks shipped ahead), and answers as the polynomial forward pass", async (t) => {
  const m = mlp([12, 16, 6]);
  await withOwnerCluster({}, async (c, owner) => {
    await owner.deploy(m.file, { name: 'p', protocol: 'pond', uncalibrated: true });
    const client = await c.connect();
    const poly = (z: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), z);
    const ask = async () => {
      const x = Float64Array.from({ length: 12 * 5 }, () => Math.random() * 2 - 1);
      const p = await client.predict('p', { data: x, shape: [5, 12] });
      const want = m.forward(x, poly);
      t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 2e-3));
      return p;
    };
    const first = await ask();
    const second = await ask();
    t.is(first.offlineBytes, 0);
    t.is(second.serverTraffic[2].bytes, 0, 'server2 sends nothing online');
    t.is(second.offlineBytes, first.serverTraffic[2].bytes);
    await client.close();
  });
});

test("a larger batch of one model gives way to another model's when the pool's budget holds only one; batch-1 reservations stay", async (t) => {
  // Two FSS models whose batch-12 recording holds about 26 MiB on each compute server and whose
  // batch-1 recording about 2.2 MiB (pooledBytes): with one batch-1 query ahead each, 52 MiB
  // holds both batch-1 reservations and one batch-12 reservation, not two (and a batch-12 query's
  // own estimate, 50 MiB, fits).
  const m = mlp([64, 1000, 10]);
  await withOwnerCluster({ maxQueryBytes: 52 << 20, precomputePool: 1 }, async (c, owner) => {
    for (const name of ['x', 'y']) await owner.deploy(m.file, { name, protocol: 'fss' });
    await until(async () => (await owner.status())[2].pool!.recorded >= 2, 'the batch-1 pools');
    const client = await c.connect({ leases: false });
    const ask = async (name: string) => {
      const x = Float64Array.from({ length: 64 * 12 }, () => Math.random() * 2 - 1);
      const p = await client.predict(name, { data: x, shape: [12, 64] });
      t.true(m.forward(x, (z) => Math.max(z, 0)).every((w, j) => Math.abs(p.data[j] - w) < 1e-3), name);
      return p.offlineBytes > 0;
    };
    t.deepEqual([await ask('x'), await ask('x')], [false, true], "x's batch of 12 is pooled after its first");
    const discarded = (await owner.status())[2].pool!.discarded;
    t.deepEqual([await ask('y'), await ask('y')], [false, true], "y's takes x's place");
    t.true((await owner.status())[2].pool!.discarded > discarded, "x's recording was dropped");
    t.false(await ask('x'), 'x runs online again');
    // The batch-1 reservations were left alone.
    const one = Float64Array.from({ length: 64 }, () => Math.random() * 2 - 1);
    for (const name of ['x', 'y']) t.true((await client.predict(name, { data: one, shape: [1, 64] })).offlineBytes > 0, `${name} batch 1`);
    await client.close();
  });
});

test("undeploying a model frees what server2 shipped ahead for it on the compute servers", async (t) => {
  const m = mlp([16, 32, 10]);
  await withOwnerCluster({}, async (c, owner) => {
    await owner.deploy(m.file, { name: 'gone', protocol: 'fss' });
    await until(async () => (await owner.status())[2].pool!.recorded >= 8 && (await owner.status())[2].pool!.making === 0, 'the pool to fill');
    await until(async () => (await owner.status()).slice(0, 2).every((s) => s.prefetched!.bytes > 0), 'the pool to arrive');
    await owner.undeploy('gone');
    await until(async () => (await owner.status()).slice(0, 2).every((s) => s.prefetched!.bytes === 0 && s.prefetched!.messages === 0), 'the shipped material to be freed');
    t.is((await owner.status())[2].pool!.held, 0);
  });
});
