// One client, many predictions at once (from a review): the client keeps at most the servers'
// maxSessionsPerClient requests in flight and queues the rest (12 of 20 started together were
// refused); close() fails the queued ones, saying so; and a leased prediction server0 refuses is
// voided on every server (its lease sat there, holding a pooled recording, until its ttl).
import test from 'ava';

import * as tfe from '../lib';
import { mlp } from './helpers/model_files';
import { startCluster } from './helpers/service';

const polyRelu = (z: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), z);

test('20 predictions at once on one client all succeed, each as its plaintext; close() fails those still queued', async (t) => {
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const m = mlp([16, 8, 4]);
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(m.file, { name: 'm', protocol: 'pond', uncalibrated: true });
    const client = await c.connect();
    const xs = Array.from({ length: 20 }, () => Float64Array.from({ length: 16 }, () => Math.random() * 2 - 1));
    const ps = await Promise.all(xs.map((x) => client.predict('m', { data: x, shape: [1, 16] })));
    ps.forEach((p, i) => {
      const want = m.forward(xs[i], polyRelu);
      t.true(p.data.length === want.length && want.every((w, j) => Math.abs(p.data[j] - w) < 2e-3), `prediction ${i}`);
    });
    // A leased prediction server0 refuses (a wrong shape): its lease is voided everywhere.
    const held = async () => (await owner.status()).map((s) => s.leases!.held);
    const before = await held();
    t.true(before.every((n) => n >= 1), `the client holds a lease (${before})`);
    await t.throwsAsync(client.predict('m', { data: new Float64Array(5), shape: [1, 5] }), { message: /takes inputs of shape \[batch, 16\]/ });
    t.deepEqual(await held(), before.map((n) => n - 1), 'the spent lease is gone on every server');
    // More than the client sends at once, then close(): the queued ones fail, saying so.
    const late = Array.from({ length: 30 }, () => client.predict('m', { data: xs[0], shape: [1, 16] }));
    for (const p of late) p.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20)); // in the client's queue by now
    await client.close();
    const settled = await Promise.allSettled(late);
    const why = settled.map((r) => (r.status === 'rejected' ? String(r.reason?.message) : 'ok'));
    t.true(why.some((w) => /closed while the predict request waited to be sent/.test(w)), `queued requests fail naming the close: ${[...new Set(why)].join(' | ')}`);
    await owner.close();
  } finally {
    await c.stop();
  }
});
