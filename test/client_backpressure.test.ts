// A client that sends requests and reads none of the answers: what waits unread for it is
// bounded by maxPendingBytesPerClient, past which its connection is refused (from a review: 617
// MiB queued after 160 000 status requests, and the connection still open). One that reads a
// large answer slowly, pinging as it goes, is kept (a first fix that paused reading from such a
// client dropped slow readers too: their pings went unread).
import test from 'ava';

import { dialOnce } from '../lib/net/dialer';
import { encodeFrames } from '../lib/net/wire';
import { WsEndpoint } from '../lib/net/ws_endpoint';

test('a client that never reads its answers is refused once they pass maxPendingBytesPerClient; the queue stays bounded', async (t) => {
  const srv = new WsEndpoint({ me: 'server0', log: () => undefined, maxClientMessageBytes: 4 << 20, maxPendingBytesPerClient: 8 << 20 });
  await srv.start([]);
  let pending = 0, most = 0;
  // About 3 KB per answer, as a status with many models.
  const answer = { ok: true, models: Array.from({ length: 64 }, (_, i) => `model-with-a-long-name-${i}`.repeat(2)) };
  srv.on('request', (peer: string, session: string) => {
    most = Math.max(most, ++pending);
    void srv.send(peer, session, 'res', { kind: 'control', data: answer }).catch(() => undefined).finally(() => pending--);
  });
  const ws = await dialOnce({ name: 'server0', host: '127.0.0.1', port: srv.port }, { me: 'c', asClient: true, handshakeTimeoutMs: 5000 });
  t.true(srv.connected('client#1'));
  (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing
  try {
    const req = (i: number) => {
      const [[prefix, body]] = encodeFrames(`s${i}`, 'req', { kind: 'control', data: { type: 'status' } });
      return Buffer.concat([prefix, body]);
    };
    for (let i = 0; i < 60_000 && srv.stats().refused.pendingBytes === 0; i++) {
      ws.send(req(i));
      if (i % 2000 === 1999) await new Promise((r) => setTimeout(r, 20));
    }
    // 60 000 answers of 3 KB would be 180 MB queued; 8 MiB of them wait at most.
    t.is(srv.stats().refused.pendingBytes, 1, 'refused for its unread answers');
    t.true(most < 4000, `${most} answers queued at most`);
    // The server drops it (the client, reading nothing, would see its close only when it reads).
    for (let i = 0; i < 100 && srv.connected('client#1'); i++) await new Promise((r) => setTimeout(r, 50));
    t.false(srv.connected('client#1'), 'its connection is closed');
  } finally {
    ws.terminate();
    await srv.close();
  }
});

test('a client that reads a large answer slowly, pinging, is kept while it drains it', async (t) => {
  // Heartbeats of 1 s (two missed: 2 s) while the drain takes several: at 300 ms, a CI worker's
  // event loop stalled past two of them once (the client's own pings late), and it was dropped.
  const srv = new WsEndpoint({ me: 'server0', log: () => undefined, heartbeatMs: 1000 });
  await srv.start([]);
  const parts = 24;
  srv.on('request', (peer: string, session: string) => {
    for (let i = 0; i < parts; i++) void srv.send(peer, session, `res${i}`, { kind: 'tensor', dtype: 'bit', shape: [1 << 20], data: new Uint8Array(1 << 20) }).catch(() => undefined);
  });
  const ws = await dialOnce({ name: 'server0', host: '127.0.0.1', port: srv.port }, { me: 'c', asClient: true, handshakeTimeoutMs: 5000 });
  ws.resume();
  let got = 0;
  ws.on('message', (d: Buffer | Buffer[]) => (got += Array.isArray(d) ? d.reduce((a, b) => a + b.length, 0) : d.length));
  const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  // Reads for a moment every 250 ms, far slower than the server sends; pings every 100 ms.
  const reader = setInterval(() => {
    socket.resume();
    setTimeout(() => socket.pause(), 1);
  }, 250);
  const pinger = setInterval(() => ws.ping(), 100);
  let closed = false;
  ws.once('close', () => (closed = true));
  try {
    const [[prefix, body]] = encodeFrames('11111111-1111-4111-8111-111111111111', 'req', { kind: 'control', data: { type: 'status' } });
    ws.send(Buffer.concat([prefix, body]));
    const deadline = Date.now() + 40_000;
    while (!closed && got < parts << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    t.false(closed, `closed after ${(got / 2 ** 20).toFixed(1)} MiB`);
    t.true(got >= parts << 20, `read ${(got / 2 ** 20).toFixed(1)} MiB`);
    t.is(srv.stats().refused.heartbeat, 0);
  } finally {
    clearInterval(reader);
    clearInterval(pinger);
    ws.terminate();
    await srv.close();
  }
});
