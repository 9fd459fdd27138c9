// A SeededProvider belongs to one Cluster: op ids, and so nonces, start at 1 in every Cluster, so
// a second Cluster on the same seeds drew the first one's masks, and the difference of two FSS
// openings (x + r and y + r) was x - y, for every element (found by a review). The second
// Cluster's setup is refused now; cluster.fork() stays the way to another session on a setup.
import test from 'ava';

import * as tfe from '../lib';
import { SeededProvider } from '../lib/protocol/correlated';

test('a provider set up by one Cluster refuses a second; forks share it', async (t) => {
  const provider = new SeededProvider();
  const c1 = new tfe.Cluster({ protocol: 'fss', provider });
  await c1.ready();
  const c2 = new tfe.Cluster({ protocol: 'fss', provider });
  await t.throwsAsync(c2.ready(), { message: /this SeededProvider is set up already for server\d: a provider belongs to one Cluster/ });
  // A fork is a session of c1's setup, on op ids of its own: it computes.
  const fork = c1.fork(c1.transport, 1);
  const xs = [-2.5, 0, 1.25, 3];
  const x = tfe.definePrivateInput('input-provider', () => ({ data: xs, shape: [4] }), fork);
  t.deepEqual([...(await tfe.defineOutput('output-receiver', tfe.relu(x))).data], xs.map((v) => Math.max(v, 0)));
  await c2.close().catch(() => undefined);
  await c1.close();
});

test("a compute server's setup refuses a second session on an index; a fork of a fork counts on the root", async (t) => {
  const c = new tfe.Cluster({ protocol: 'fss' });
  await c.ready();
  try {
    c.fork(c.transport, 7);
    t.throws(() => c.fork(c.transport, 7), { message: /session index 7 ran already on this setup: a second session on it would repeat its masks/ });
    const other = c.fork(c.transport, 8);
    t.throws(() => other.fork(other.transport, 7), { message: /session index 7 ran already/ });
    t.notThrows(() => other.fork(other.transport, 9));
  } finally {
    await c.close();
  }
});

// server1 checks the pair seed server0 deals as it checks server2's (from a review: any length
// set up, and the input masks' MAC could then be keyed with an empty, publicly known key).
test('a pair seed of the wrong length or type is refused at setup, naming its sender', async (t) => {
  for (const [bad, why] of [['AAAA', /setup: server0 sent a 3-byte seed/], [17, /setup: server0 sent a seed that is not a string/]] as const) {
    const c = new tfe.Cluster({ protocol: 'securenn' });
    const send = c.transport.send.bind(c.transport);
    c.transport.send = (from, to, tag, p) => send(from, to, tag, tag.step === 'pairSeed' ? { kind: 'control', data: bad } : p);
    await t.throwsAsync(c.ready(), { message: why });
    await c.close().catch(() => undefined);
  }
});
