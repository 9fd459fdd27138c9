// Messages a server sent while its peer's link was down arrive once the peer dials in (from a
// review: the frames that came with the upgrade's answer were read before the dialing endpoint
// had its listeners on the link, and dropped, while their sender was told they went).
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
