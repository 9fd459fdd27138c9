// A client that sends requests and reads none of the answers: the server stops reading from it
// while its socket's buffer is full, so what it queues for that client stays bounded, and a client
// that reads nothing at all misses the heartbeat and is dropped (from a review: 617 MiB queued
// after 160 000 status requests, and the connection still open).
import test from 'ava';

import { dialOnce } from '../lib/net/dialer';
import { encodeFrames } from '../lib/net/wire';
import { WsEndpoint } from '../lib/net/ws_endpoint';

test('a client that never reads its answers is not read either; its queue stays bounded and the heartbeat drops it', async (t) => {
  const srv = new WsEndpoint({ me: 'server0', log: () => undefined, heartbeatMs: 500 });
  await srv.start([]);
  let pending = 0, most = 0;
  // About 3 KB per answer, as a status with many models.
  const answer = { ok: true, models: Array.from({ length: 64 }, (_, i) => `model-with-a-long-name-${i}`.repeat(2)) };
  srv.on('request', (peer: string, session: string) => {
    most = Math.max(most, ++pending);
    void srv.send(peer, session, 'res', { kind: 'control', data: answer }).catch(() => undefined).finally(() => pending--);
  });
  const ws = await dialOnce({ name: 'server0', host: '127.0.0.1', port: srv.port }, { me: 'c', asClient: true, handshakeTimeoutMs: 5000 });
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing
  try {
    const req = (i: number) => {
      const [[prefix, body]] = encodeFrames(`s${i}`, 'req', { kind: 'control', data: { type: 'status' } });
      return Buffer.concat([prefix, body]);
    };
    for (let i = 0; i < 60_000; i++) {
      ws.send(req(i));
      if (i % 5000 === 4999) await new Promise((r) => setTimeout(r, 50));
    }
    // 60 000 answers of 3 KB would be 180 MB queued; the socket's buffer holds 8 MiB of them.
    t.true(most < 8000, `${most} answers queued at most`);
    t.is(await closed, 1006, 'dropped for missing the heartbeat');
    t.true(srv.stats().refused.heartbeat >= 1);
  } finally {
    ws.terminate();
    await srv.close();
  }
});
