// Load: 8 concurrent clients x 50 queries each over the three-process service, every answer
// checked against plaintext (so results are correct and isolated), and the servers' resident
// memory flat across repeated rounds.
import test from 'ava';

import * as tfe from '../lib';
import { mlp } from './helpers/model_files';
import { poolSettled, rssOf, startCluster } from './helpers/service';

const polyRelu = (z: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), z);

test('8 clients x 50 queries: all correct, and server RSS stays flat across rounds', async (t) => {
  const c = await startCluster();
  // Closed in `finally`: a failed assertion throws, and clients left open keep re-dialing the
  // stopped servers, so the worker would not exit until ava's timeout.
  let clients: tfe.PredictionClient[] = [];
  try {
    await c.ready();
    const m = mlp([64, 32, 10]);
    const owner = await tfe.PredictionClient.connect(c.config, { asOwner: true });
    await owner.deploy(m.file, { name: 'load', protocol: 'pond', uncalibrated: true });
    await owner.close();
    // clients[0] is the operator (the owner's certificate under TLS), to read the counters.
    clients = await Promise.all(Array.from({ length: 8 }, (_, i) => tfe.PredictionClient.connect(c.config, { asOwner: i === 0 })));
    let wrong = 0;
    const round = () =>
      Promise.all(clients.map(async (client) => {
        for (let q = 0; q < 50; q++) {
          // Each client's inputs differ, so a mixed-up answer would not match its reference.
          const x = Float64Array.from({ length: 64 }, () => Math.random() * 2 - 1);
          const p = await client.predict('load', { data: x, shape: [1, 64] });
          const want = m.forward(x, polyRelu);
          // Written so that a NaN or a short answer counts as wrong.
          if (p.data.length !== want.length || want.some((w, i) => !(Math.abs(p.data[i] - w) <= 2e-3))) wrong++;
        }
      }));
    const rss: number[][] = [];
    const native: string[][] = [];
    for (let r = 0; r < 5; r++) {
      await round();
      rss.push([...c.procs.values()].map((p) => rssOf(p.child.pid!)));
      // Besides what the pool holds: how many pooled queries are held when a round ends depends on
      // when the clients took their leases, and each held message is one tensor of its wire size.
      native.push((await poolSettled(clients[0])).map((s) => `${s.liveTensors! - s.prefetched!.messages} tensors, ${s.tensorBytes! - s.prefetched!.bytes} bytes`));
    }
    t.is(wrong, 0);
    // Native memory is exact: after warm-up, every round ends with the same tensors alive.
    for (let r = 2; r < 5; r++) t.deepEqual(native[r], native[1], `round ${r}`);
    // RSS also carries V8's heap, which grows in steps until its GC settles. The bound allows one
    // such step, not a trend: 48 MiB over these 1200 queries is 40 KB per query.
    for (let s = 0; s < 3; s++) {
      const growth = rss[4][s] - rss[1][s];
      t.true(growth < 48 * 2 ** 20, `server${s} RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB over rounds 2-5: ${rss.map((r) => (r[s] / 2 ** 20).toFixed(1)).join(' -> ')} MiB`);
    }
    const st = await clients[0].status();
    t.true(st.every((s) => s.running === 0 && s.mailbox === 0), JSON.stringify(st));
  } finally {
    await Promise.all(clients.map((cl) => cl.close()));
    await c.stop();
  }
});
