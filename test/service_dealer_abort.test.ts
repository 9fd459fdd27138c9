// A query that ends early ends on server2 too, even where server2 only deals (FSS keys, Pond's
// triples) and waits for nothing: its protocol messages in a session aborted there fail at once
// (WsEndpoint.send's `work`), so its dealing stops at the next send. Before, server2 dealt on to
// the end for nobody, holding its CPU and one of its session slots (maxSessions), so a client that
// started large queries and left could keep server2 busy and refusing others.
import test from 'ava';

import { mlp, mlpMismatch } from './helpers/model_files';
import { startCluster } from './helpers/service';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial("server2 stops dealing a query's keys as soon as its client leaves, and serves the next query", async (t) => {
  // Not pooled: server2 deals the batch's keys while the query runs (1.6 million gates, about 3.3 s
  // of dealing on 2 idle vCPUs). On the build before the fix, with the client gone 0.6 and 1.2 s
  // into the query, server2 dealt on for 3.0 and 2.1 s (its sends in an aborted session were
  // written without a wait, so nothing stopped it), where every server now ends within 60 ms.
  const c = await startCluster({ queryTimeoutMs: 60_000, extra: { precomputePool: 0, maxQueryBytes: 4 * 2 ** 30, maxTotalQueryBytes: 8 * 2 ** 30 } });
  const net = mlp([16, 100_000, 4]);
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(net.file, { name: 'wide', protocol: 'fss' });
    const running = async () => [...(await owner.status()).values()].reduce((a, s) => a + (s.running ?? 0), 0);
    for (const after of [600, 1200]) {
      const leaving = await c.connect({ leases: false });
      await leaving.models();
      const answer = leaving.predict('wide', { data: new Float64Array(16 * 16).fill(0.5), shape: [16, 16] });
      answer.catch(() => undefined);
      await sleep(after);
      t.true((await running()) > 0, 'the query runs');
      const left = Date.now();
      await leaving.close();
      while ((await running()) > 0 && Date.now() - left < 10_000) await sleep(20);
      const ms = Date.now() - left;
      t.log(`client gone ${after} ms into the query: every server ended it ${ms} ms later`);
      t.true(ms < 1000, `ended after ${ms} ms`);
    }
    const why = c.logs.filter((l) => l.startsWith('[tfe server2]') && /\(predict 'wide' .*\) failed: /.test(l));
    t.is(why.length, 2, 'server2 says why it stopped, each time');
    t.true(why.every((l) => /disconnected/.test(l)), why.join(' | '));
    const client = await c.connect({ leases: false });
    t.is(await mlpMismatch(client, 'wide', net, 16, 1e-2), '', 'the next query is exact');
    await client.close();
    await owner.close();
  } finally {
    await c.stop();
  }
});
