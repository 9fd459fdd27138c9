// A pooled query gets server2's messages in its own pool session (lib/serve/pool.ts,
// PooledTransport). Its timeout must end the waits there too. server2 is stopped (SIGSTOP) just as
// the deploy answers, before the pool's one recording of a wide model is at server0 and server1
// (100000 gates: 70 MB of keys for each, shipped over about 250 ms after the deploy on 2 idle
// vCPUs), so the batch-1 query takes that index and waits for server2 in the pool session.
// server0 and server1 must time out after queryTimeoutMs (3 s here), not when server2 comes back
// or its link is found dead (30 s). On the build before the fix neither had timed out 8 s later.
import test from 'ava';

import { mlp } from './helpers/model_files';
import { startCluster } from './helpers/service';

const TIMEOUT_MS = 3000;

test('a pooled query whose recording server2 has not shipped times out on server0 and server1 while server2 is stopped', async (t) => {
  const c = await startCluster({ queryTimeoutMs: TIMEOUT_MS, extra: { precomputePool: 1 } });
  const server2 = c.procs.get('server2')!.child;
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    const client = await c.connect({ leases: false }); // before server2 stops: it answers no handshake then
    const wide = mlp([16, 100_000, 4]);
    await owner.deploy(wide.file, { name: 'wide', protocol: 'fss' });
    await client.models(); // the client learns the model's input now: later that would ask server2
    server2.kill('SIGSTOP');
    const answer = client.predict('wide', { data: new Float64Array(16).fill(0.5), shape: [1, 16] });
    answer.catch(() => undefined);
    const timedOut = (party: string) => c.logs.some((l) => l.startsWith(`[tfe ${party}]`) && /session .* \(predict 'wide' .*\) failed: .*timed out after 3000 ms/.test(l));
    const t0 = Date.now();
    while (!(timedOut('server0') && timedOut('server1')) && Date.now() - t0 < TIMEOUT_MS + 5000) await new Promise((r) => setTimeout(r, 100));
    const took = Date.now() - t0;
    t.true(timedOut('server0') && timedOut('server1'), `no timeout within ${took} ms with server2 stopped: ${c.logs.slice(-6).join(' | ')}`);
    server2.kill('SIGCONT');
    await t.throwsAsync(answer, { message: /timed out after 3000 ms/ });
    await client.close();
    await owner.close();
  } finally {
    server2.kill('SIGCONT');
    await c.stop();
  }
});
