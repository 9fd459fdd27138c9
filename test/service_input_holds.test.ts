// Requests that never send their input, from a review of the service against hostile clients:
// - one held its memory estimate and session until queryTimeoutMs (four large ones from one
//   anonymous connection kept every honest query out for two minutes): now it ends after
//   inputTimeoutMs, freed on every server;
// - alternating two batch sizes moved the larger-batch pool at every request, so server2 dealt a
//   whole pool of keys per aborted request, for nobody: now the pool moves once a query of the new
//   size has run;
// - a "busy" refusal told an anonymous client how much memory and how many requests others held:
//   now only the server's log has the numbers;
// - and the deadline runs from where the server takes the input: counted from the setup instead,
//   it included an 'auto' FSS model's wait for server2's gate form (after the recordings queued
//   before it), and honest queries of a burst were aborted as if their clients had sent nothing.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { SERVERS } from '../lib/protocol/party';
import { ask, rawClient, startLimitedCluster, until } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import { poolSettled, type TestCluster } from './helpers/service';

const INPUT_MS = 400;
let c: TestCluster;
let m: ReturnType<typeof mlp>;

test.before(async () => {
  // queryTimeoutMs far above inputTimeoutMs: a request held to its query timeout fails the test's own waits.
  // One address (loopback) against the server-wide memory bound: the per-address share is off
  // (test/service_address_share.test.ts has it).
  c = await startLimitedCluster({ queryTimeoutMs: 60_000, inputTimeoutMs: INPUT_MS, precomputePool: 2, maxTotalQueryBytes: 512 * 2 ** 20, maxQueryBytes: 384 * 2 ** 20, maxBatch: 4096, maxAddressPercent: 100 });
  await c.ready();
  m = mlp([32, 64, 10]);
  const owner = await c.connect({ asOwner: true });
  try {
    await owner.deploy(m.file, { name: 'm', protocol: 'fss' });
  } finally {
    await owner.close();
  }
});

test.after.always(async () => {
  await c?.stop();
});

test.serial('a prediction whose input never comes ends after inputTimeoutMs on every server, its memory and session freed', async (t) => {
  const ep = await rawClient(c);
  const owner = await c.connect({ asOwner: true });
  try {
    const session = randomUUID();
    const started = Date.now();
    const answers = await ask(ep, SERVERS, session, { type: 'predict', model: 'm', shape: [64, 32] }, 20_000);
    const took = Date.now() - started;
    for (const a of answers.slice(0, 2)) t.regex(a.ok ? '' : a.error, new RegExp(`the client's input did not come within ${INPUT_MS} ms \\(inputTimeoutMs\\)`));
    t.true(took < 10_000, `answered after ${took} ms (queryTimeoutMs is 60 s)`);
    await until(async () => (await owner.status()).every((s) => s.running === 0 && s.sessions!.sessions === 0 && s.sessions!.estimatedBytes === 0), 'every server to free the request');
    // And the cluster serves an honest query at once.
    const client = await c.connect();
    try {
      const x = Float64Array.from({ length: 32 }, () => Math.random() * 2 - 1);
      const p = await client.predict('m', { data: x, shape: [1, 32] });
      const want = m.forward(x, (z) => Math.max(z, 0));
      t.true(want.every((w, i) => Math.abs(p.data[i] - w) < 2e-3), `${[...p.data]} vs ${[...want]}`);
    } finally {
      await client.close();
    }
  } finally {
    await owner.close();
    await ep.close();
  }
});

test.serial('alternating batch sizes without inputs has server2 deal no pool for them; a query that runs moves the pool', async (t) => {
  const ep = await rawClient(c);
  const owner = await c.connect({ asOwner: true });
  try {
    const before = (await poolSettled(owner))[2].pool!;
    for (let i = 0; i < 6; i++) {
      const session = randomUUID();
      const asked = ask(ep, ['server0'], session, { type: 'predict', model: 'm', shape: [20 + (i % 2), 32] }, 20_000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      ep.abortSession(session, 'bye', SERVERS);
      await asked;
    }
    const after = (await poolSettled(owner))[2].pool!;
    t.is(after.recorded - before.recorded, 0, `server2 recorded ${after.recorded - before.recorded} queries ahead for requests that sent no input`);
    // An honest batch of 20 runs; the next one of 20 finds its keys dealt ahead.
    const client = await c.connect();
    try {
      const x = Float64Array.from({ length: 20 * 32 }, () => Math.random() * 2 - 1);
      await client.predict('m', { data: x, shape: [20, 32] });
      const dealt = (await poolSettled(owner))[2].pool!;
      t.true(dealt.recorded > after.recorded, 'a batch of 20 that ran has its pool dealt');
      const replayed = dealt.replayed;
      await client.predict('m', { data: x, shape: [20, 32] });
      t.true((await poolSettled(owner))[2].pool!.replayed > replayed, 'the next batch of 20 is served from the pool');
    } finally {
      await client.close();
    }
  } finally {
    await owner.close();
    await ep.close();
  }
});

test.serial("a busy refusal names the query's own size and the limit, not what other clients hold", async (t) => {
  const ep = await rawClient(c);
  try {
    // A first request that holds most of maxTotalQueryBytes, then one that does not fit beside it.
    const first = randomUUID(), second = randomUUID();
    const held = ask(ep, ['server0'], first, { type: 'predict', model: 'm', shape: [3500, 32] }, 20_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const [refused] = await ask(ep, ['server0'], second, { type: 'predict', model: 'm', shape: [3500, 32] }, 20_000);
    const error = refused.ok ? 'admitted' : refused.error;
    t.regex(error, /the server is busy: this query needs about \d+ MiB, more than the queries running now leave of 512 MiB \(maxTotalQueryBytes\); retry later/);
    t.notRegex(error, /in use/);
    await until(async () => c.logs.some((l) => /refused a request from .*maxTotalQueryBytes.*\[a query of about \d+ MiB with \d+ MiB of 512 MiB \(maxTotalQueryBytes\) in use\]/.test(l)), 'the log to have the numbers');
    ep.abortSession(first, 'bye', SERVERS);
    await held;
  } finally {
    await ep.close();
  }
});

test.serial("a burst of honest queries on an 'auto' FSS model is not cut by the input deadline, however long server2's queue", async (t) => {
  // Its own cluster: a short deadline, a deep pool and larger layers, so that each query's wait
  // for its recording (the ones queued before it, each a while) passes the deadline many times.
  const c = await startLimitedCluster({ queryTimeoutMs: 60_000, inputTimeoutMs: 150, precomputePool: 8 });
  await c.ready();
  const big = mlp([256, 1024, 1024, 10]);
  const owner = await c.connect({ asOwner: true });
  const clients = await Promise.all([0, 1, 2].map(() => c.connect({ leases: false })));
  try {
    await owner.deploy(big.file, { name: 'big', protocol: 'fss' });
    await poolSettled(owner);
    const xs = Array.from({ length: 24 }, () => Float64Array.from({ length: 256 }, () => Math.random() - 0.5));
    const res = await Promise.allSettled(xs.map((x, i) => clients[i % 3].predict('big', { data: x, shape: [1, 256] })));
    const failed = res.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason?.message ?? r));
    t.deepEqual(failed, [], `${failed.length} of 24 failed`);
    res.forEach((r, i) => {
      if (r.status !== 'fulfilled') return;
      const want = big.forward(xs[i], (z) => Math.max(z, 0));
      t.true(want.every((w, j) => Math.abs(r.value.data[j] - w) < 5e-3), `query ${i}`);
    });
  } finally {
    for (const cl of clients) await cl.close();
    await owner.close();
    await c.stop();
  }
});
