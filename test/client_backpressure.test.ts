// A client that sends requests and reads none of the answers: what waits unread for it is
// bounded by maxPendingBytesPerClient, past which its connection is refused (from a review: 617
// MiB queued after 160 000 status requests, and the connection still open). One that reads a
// large answer slowly, pinging as it goes, is kept (a first fix that paused reading from such a
// client dropped slow readers too: their pings went unread). One that pings faster than it reads
// is refused, said and counted (ws's own bound on its unwritten pongs closed it unsaid).
import test from 'ava';

import { dialOnce } from '../lib/net/dialer';
import { encodeFrames } from '../lib/net/wire';
import { MAX_UNWRITTEN_PONGS } from '../lib/net/limits';
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
  const said: string[] = [];
  const srv = new WsEndpoint({ me: 'server0', log: (m: string) => said.push(m), heartbeatMs: 1000 });
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
  // Reads for a moment every 250 ms, far slower than the server sends; pings every 400 ms (the
  // server's pongs wait behind the answer: at 100 ms, 60 of them waited within 6 s, the bound of
  // a peer that pings faster than it reads, on a slow CI worker).
  const reader = setInterval(() => {
    socket.resume();
    setTimeout(() => socket.pause(), 1);
  }, 250);
  const pinger = setInterval(() => ws.ping(), 400);
  let closed = false;
  let why = '';
  ws.once('close', (code: number, reason: Buffer) => ((closed = true), (why += `close ${code} ${reason.toString()}`)));
  ws.on('error', (e: Error) => (why += `error ${e.message}; `));
  try {
    const [[prefix, body]] = encodeFrames('11111111-1111-4111-8111-111111111111', 'req', { kind: 'control', data: { type: 'status' } });
    ws.send(Buffer.concat([prefix, body]));
    const deadline = Date.now() + 40_000;
    while (!closed && got < parts << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    t.false(closed, `closed after ${(got / 2 ** 20).toFixed(1)} MiB (${why}); the server said: ${said.join(' | ')}; refused ${JSON.stringify(srv.stats().refused)}`);
    t.true(got >= parts << 20, `read ${(got / 2 ** 20).toFixed(1)} MiB`);
    t.is(srv.stats().refused.heartbeat, 0);
    t.is(srv.stats().refused.pings, 0);
  } finally {
    clearInterval(reader);
    clearInterval(pinger);
    ws.terminate();
    await srv.close();
  }
});

test('a client that pings faster than it reads is refused, said and counted, once MAX_UNWRITTEN_PONGS pongs wait; the endpoint serves on', async (t) => {
  const said: string[] = [];
  const srv = new WsEndpoint({ me: 'server0', log: (m: string) => said.push(m), heartbeatMs: 60_000 });
  await srv.start([]);
  srv.on('request', (peer: string, session: string) => {
    // An answer larger than the sockets' buffers: the pongs queue behind it.
    for (let i = 0; i < 16; i++) void srv.send(peer, session, `res${i}`, { kind: 'tensor', dtype: 'bit', shape: [1 << 20], data: new Uint8Array(1 << 20) }).catch(() => undefined);
  });
  const dial = () => dialOnce({ name: 'server0', host: '127.0.0.1', port: srv.port }, { me: 'c', asClient: true, handshakeTimeoutMs: 5000 });
  const ws = await dial();
  const socket = (ws as unknown as { _socket: { pause(): void } })._socket;
  socket.pause(); // reads nothing
  try {
    const [[prefix, body]] = encodeFrames('11111111-1111-4111-8111-111111111111', 'req', { kind: 'control', data: { type: 'status' } });
    ws.send(Buffer.concat([prefix, body]));
    await new Promise((r) => setTimeout(r, 300)); // the answer fills the buffers
    for (let i = 0; i < MAX_UNWRITTEN_PONGS - 1; i++) ws.ping();
    await new Promise((r) => setTimeout(r, 300));
    t.is(srv.stats().refused.pings, 0, 'within the bound');
    t.true(srv.connected('client#1'));
    for (let i = 0; i < 5; i++) ws.ping();
    for (let i = 0; i < 100 && srv.stats().refused.pings === 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.is(srv.stats().refused.pings, 1, 'refused once, counted');
    t.true(said.some((m) => /client#1: it pings faster than it reads: 60 pongs wait/.test(m)), said.join(' | '));
    for (let i = 0; i < 100 && srv.connected('client#1'); i++) await new Promise((r) => setTimeout(r, 50));
    t.false(srv.connected('client#1'), 'its connection is closed');
    // Another client is served.
    const other = await dial();
    t.true(srv.connected('client#2'));
    other.terminate();
  } finally {
    ws.terminate();
    await srv.close();
  }
});
