// Server links coming up (from a review). Messages a server sent while its peer's link was down
// arrive once the peer dials in: the frames that came with the upgrade's answer were read before
// the dialing endpoint had its listeners on the link, and dropped, their sender told they went.
import test from 'ava';

import { WsEndpoint } from '../lib/net/ws_endpoint';

test('sends waiting for a link are all received when the peer dials in', async (t) => {
  for (let trial = 0; trial < 5; trial++) {
    const s1 = new WsEndpoint({ me: 'server1', clusterSecret: 'secret', log: () => undefined });
    await s1.start(['server0']);
    const s0 = new WsEndpoint({ me: 'server0', clusterSecret: 'secret', log: () => undefined });
    try {
      // server1 has messages for server0 before the link is up (a send waits for it to come back).
      const sends = [0, 1, 2].map((i) => s1.send('server0', 'epoch:e1', `k${i}`, { kind: 'control', data: { i } }));
      await s0.start(['server1']);
      await s0.connect({ name: 'server1', host: '127.0.0.1', port: s1.port });
      await Promise.all(sends);
      const got = await Promise.all([0, 1, 2].map((i) =>
        Promise.race([
          s0.recv('server1', 'epoch:e1', `k${i}`).then((p) => (p.kind === 'control' ? (p.data as { i: number }).i : -1)),
          new Promise<string>((r) => setTimeout(() => r('lost'), 2000)),
        ]),
      ));
      t.deepEqual(got, [0, 1, 2], `trial ${trial}`);
    } finally {
      await s0.close();
      await s1.close();
    }
  }
});

// A peer that restarted dials in while the old link has not closed (no FIN after a host crash or a
// partition): the old link is down, as if its close had come first (from a review: waiting
// receives stayed pending and the server layer never heard peer-down).
test('a new link that replaces a half-dead one fails what waited on the old one, with peer-down', async (t) => {
  const s1 = new WsEndpoint({ me: 'server1', clusterSecret: 'secret', log: () => undefined });
  await s1.start(['server0']);
  const events: string[] = [];
  s1.on('peer-down', (p: string) => events.push(`down ${p}`));
  s1.on('peer-up', (p: string) => events.push(`up ${p}`));
  const old = new WsEndpoint({ me: 'server0', clusterSecret: 'secret', log: () => undefined });
  const restarted = new WsEndpoint({ me: 'server0', clusterSecret: 'secret', log: () => undefined });
  try {
    await old.start(['server1']);
    await old.connect({ name: 'server1', host: '127.0.0.1', port: s1.port });
    const waiting = s1.recv('server0', 'epoch:old:7', 'k');
    await restarted.start(['server1']);
    await restarted.connect({ name: 'server1', host: '127.0.0.1', port: s1.port });
    await t.throwsAsync(waiting, { message: /the link with server0 was replaced by a new one/ });
    t.deepEqual(events, ['up server0', 'down server0', 'up server0']);
    // The new link works.
    await restarted.send('server1', 'epoch:new:1', 'k', { kind: 'control', data: 1 });
    t.deepEqual(await s1.recv('server0', 'epoch:new:1', 'k'), { kind: 'control', data: 1 });
  } finally {
    await old.close();
    await restarted.close();
    await s1.close();
  }
});
