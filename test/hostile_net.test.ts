// Hostile peers against a real WsEndpoint on loopback (issue 12). Each probe is a raw `ws` client
// sending what a legitimate peer never would; each asserts a clear refusal (close code and a
// reason naming the rule or limit), that a legitimate client and server link on the same endpoint
// still work afterwards, and that the endpoint's counters return to baseline (nothing held)
// once the hostile connection is gone.
import { randomUUID } from 'node:crypto';
import * as net from 'node:net';

import test, { type ExecutionContext } from 'ava';
import WebSocket from 'ws';

import { COMPUTE_VERSION } from '../lib/compute_version';
import { Mailbox } from '../lib/net/mailbox';
import { throttledLog } from '../lib/net/sanitize';
import { ABORT_KEY, REQUEST_KEY, sanitizeForLog, sendFailureEvent, WsEndpoint, type WsEndpointOptions } from '../lib/net/ws_endpoint';
import { HELD_OVERHEAD } from '../lib/net/inbound';
import { CHUNK_BYTES, chunkCount, WIRE_VERSION } from '../lib/net/wire';
import type { Payload } from '../lib/net/transport';

const SECRET = 'correct horse battery staple';
const MIB = 1 << 20;

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tensor = (bytes: number, fill = 7): Payload => ({ kind: 'tensor', dtype: 'bit', shape: [bytes], data: new Uint8Array(bytes).fill(fill) });

/** A raw frame: u32 header length | header JSON | body. */
function frame(h: Record<string, unknown>, body: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.from(JSON.stringify(h));
  const out = Buffer.alloc(4 + head.length + body.length);
  out.writeUInt32LE(head.length, 0);
  head.copy(out, 4);
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(out, 4 + head.length);
  return out;
}

/** The header of chunk 0 of a message of `total` bytes (kind 'tensor' of bits unless `extra` says otherwise). */
function head(session: string, key: string, total: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { v: WIRE_VERSION, session, key, kind: 'tensor', dtype: 'bit', shape: [total], chunk: 0, chunks: chunkCount(total), total, ...extra };
}
const request = (session: string) => frame({ ...head(session, REQUEST_KEY, 2, { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from('{}'));

interface Raw {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  send(f: Buffer): void;
}

/** A raw ws connection (a client unless `headers` say otherwise); rejects with the status and body when refused. */
function raw(port: number, headers: Record<string, string> = { 'x-tfe-client': 'mallory' }, opts: WebSocket.ClientOptions = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { headers, ...opts });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new Error(`${res.statusCode} ${body}`)));
    });
    ws.once('open', () => resolve({ ws, closed, send: (f) => ws.send(f, { binary: true }) }));
  });
}

/** server1 under test, a legitimate server0 dialing it, and a legitimate client. */
async function setup(limits: Partial<WsEndpointOptions> = {}, extraPeers: string[] = []) {
  const logs: string[] = [];
  const srv = new WsEndpoint({ me: 'server1', clusterSecret: SECRET, log: (m) => logs.push(m), ...limits });
  await srv.start(['server0', ...extraPeers]);
  const port = srv.port;
  const s0 = new WsEndpoint({ me: 'server0', clusterSecret: SECRET, log: () => undefined });
  const cli = new WsEndpoint({ me: 'client', log: () => undefined });
  await s0.connect({ name: 'server1', host: '127.0.0.1', port });
  await cli.connect({ name: 'server1', host: '127.0.0.1', port }, { asClient: true });
  await until(() => srv.stats().connections.clients === 1 && srv.connected('server0'), 'the legitimate peers');
  const close = () => Promise.all([cli.close(), s0.close(), srv.close()]);
  return { srv, s0, cli, logs, port, close };
}
type Setup = Awaited<ReturnType<typeof setup>>;

/** The legitimate client and server link still work: a client session and a server-internal message go through. */
async function stillServing(t: ExecutionContext, { srv, s0, cli }: Setup): Promise<void> {
  await until(() => cli.connected('server1') && s0.connected('server1'), 'the legitimate peers to be connected');
  const session = randomUUID();
  const peer = new Promise<string>((resolve) => {
    const on = (p: string, s: string) => s === session && (srv.off('request', on), resolve(p));
    srv.on('request', on);
  });
  await cli.send('server1', session, REQUEST_KEY, { kind: 'control', data: { type: 'predict' } });
  await cli.send('server1', session, 'x', tensor(64, 3));
  const got = await srv.recv(await peer, session, 'x');
  t.true(got.kind === 'tensor' && got.data.length === 64 && got.data[0] === 3);
  srv.endSession(session);
  const internal = `epoch:${randomUUID().slice(0, 8)}:model:m`;
  await s0.send('server1', internal, 'k', tensor(16, 5));
  const m = await srv.recv('server0', internal, 'k');
  t.true(m.kind === 'tensor' && m.data[0] === 5);
  srv.endSession(internal);
}

/** Nothing held: no undelivered or unfinished messages, no client sessions, only the legitimate connections. */
async function atBaseline(t: ExecutionContext, srv: WsEndpoint, clients = 1): Promise<void> {
  const ok = () => {
    const s = srv.stats();
    return s.pendingBytes === 0 && s.pendingMessages === 0 && s.unfinishedMessages === 0 && s.unfinishedBytes === 0 && s.clientSessions === 0 && s.connections.clients === clients;
  };
  await until(ok, `baseline stats, at ${JSON.stringify(srv.stats())}`).catch(() => undefined);
  t.true(ok(), JSON.stringify(srv.stats()));
}

test('an anonymous client cannot reach server-internal or other clients\' sessions; aborting its own is logged sanitised', async (t) => {
  t.timeout(30_000);
  const env = await setup();
  const { srv, s0, port } = env;
  try {
    // The review's attack: abort epoch:<id>:model:<name> from a client with no certificate.
    const internal = 'epoch:0123abcd:model:m';
    const waiting = srv.recv('server0', internal, 'w');
    const aborts: string[] = [];
    srv.on('abort', (_s, r) => aborts.push(r));
    const m1 = await raw(port);
    m1.send(frame({ ...head(internal, ABORT_KEY, 9, { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from('"x\\nfake"')));
    const c1 = await m1.closed;
    t.is(c1.code, 1008);
    t.regex(c1.reason, /session 'epoch:0123abcd:model:m' is not a client session/);
    // Mail into a server session, and mail into a client session never opened: refused as well.
    for (const session of ['pool:0123', randomUUID()]) {
      const m = await raw(port);
      m.send(frame(head(session, 'k', 8), new Uint8Array(8)));
      const c = await m.closed;
      t.is(c.code, 1008);
      t.regex(c.reason, /not a client session|was not opened by this client/);
    }
    // The server's own session is intact: its message still arrives.
    await s0.send('server1', internal, 'w', tensor(8, 9));
    t.is(((await waiting) as { data: Uint8Array }).data[0], 9);
    t.deepEqual(aborts, []);
    // Another client's session: a second connection may neither abort it nor write into it.
    const a = await raw(port);
    const mine = randomUUID();
    a.send(request(mine));
    a.send(frame(head(mine, 'in', 4), new Uint8Array(4).fill(1)));
    await until(() => srv.stats().pendingMessages === 1, 'client A\'s message');
    const b = await raw(port);
    b.send(frame({ ...head(mine, ABORT_KEY, 2, { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from('""')));
    t.regex((await b.closed).reason, /belongs to another connection/);
    t.is(srv.stats().pendingMessages, 1); // A's message survived
    // Its own session a client may abort; the reason is logged on one line, escaped and capped.
    const evil = `x\n[tfe server1] forged line \u001b[31m\u202e${'A'.repeat(900)}`;
    a.send(frame({ ...head(mine, ABORT_KEY, Buffer.byteLength(JSON.stringify(evil)), { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from(JSON.stringify(evil))));
    await until(() => aborts.length === 1, 'the abort');
    t.false(/[\n\r\u001b\u202e]/.test(aborts[0]), aborts[0]);
    t.true(aborts[0].length < 300 && aborts[0].includes('\\n[tfe server1] forged line \\u001b[31m\\u202e'), aborts[0]);
    t.is(srv.stats().pendingMessages, 0); // aborting freed what the session held
    a.ws.close();
    await a.closed;
    t.is(srv.stats().refused.namespace, 4);
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

test('undelivered bytes, unfinished chunked messages and sessions are bounded per client and for all clients, and freed on close', async (t) => {
  t.timeout(60_000);
  const env = await setup({ maxClientMessageBytes: 16 * MIB, maxPendingBytesPerClient: 5 * MIB, maxPendingBytesAllClients: 16 * MIB, maxUnfinishedPerClient: 1, maxUnfinishedAllClients: 2, maxSessionsPerClient: 2 });
  const { srv, port } = env;
  try {
    // 6 x 1 MiB to keys nobody receives: the fifth passes maxPendingBytesPerClient, with what
    // holding each of the four before it costs besides its bytes (its key and mailbox entry).
    const m = await raw(port);
    const s = randomUUID();
    m.send(request(s));
    for (let i = 0; i < 6; i++) m.send(frame(head(s, `junk${i}`, MIB), new Uint8Array(MIB)));
    const c = await m.closed;
    t.is(c.code, 1008);
    t.regex(c.reason, new RegExp(`${5 * MIB + 4 * (5 + HELD_OVERHEAD)} bytes pending from this connection exceed the limit of 5242880 \\(maxPendingBytesPerClient\\)`));
    await atBaseline(t, srv); // the 5 MiB it held went with it
    // Chunked messages started and never finished: the second passes maxUnfinishedPerClient.
    const u = await raw(port);
    const s2 = randomUUID();
    u.send(request(s2));
    u.send(frame(head(s2, 'big0', CHUNK_BYTES + 1), new Uint8Array(CHUNK_BYTES)));
    await until(() => srv.stats().unfinishedMessages === 1, 'the first unfinished message');
    t.is(srv.stats().unfinishedBytes, CHUNK_BYTES);
    u.send(frame(head(s2, 'big1', CHUNK_BYTES + 1), new Uint8Array(CHUNK_BYTES)));
    t.regex((await u.closed).reason, /2 chunked messages in progress exceed the limit of 1 \(maxUnfinishedPerClient\)/);
    await atBaseline(t, srv);
    // All clients together: each of three is within its own limits; the third passes the shared one.
    const trio = await Promise.all([raw(port), raw(port), raw(port)]);
    for (const [i, r] of trio.entries()) {
      const si = randomUUID();
      r.send(request(si));
      r.send(frame(head(si, 'big', CHUNK_BYTES + 1), new Uint8Array(CHUNK_BYTES)));
      if (i < 2) await until(() => srv.stats().unfinishedMessages === i + 1, 'an unfinished message');
    }
    const third = await trio[2].closed;
    t.is(third.code, 1013);
    t.regex(third.reason, /from all clients exceed the limit of 2 \(maxUnfinishedAllClients\)/);
    t.is(trio[0].ws.readyState, WebSocket.OPEN); // the others are untouched
    t.is(srv.stats().unfinishedMessages, 2);
    for (const r of trio.slice(0, 2)) r.ws.close();
    await atBaseline(t, srv);
    // Sessions: each one the server layer has not ended counts, whether or not it holds messages
    // (a query computing, or waiting to be paired, holds none); one it ended frees its place.
    const h = await raw(port);
    const [quiet, busy, later] = [randomUUID(), randomUUID(), randomUUID()];
    h.send(request(quiet));
    h.send(request(busy));
    h.send(frame(head(busy, 'in', 8), new Uint8Array(8)));
    await until(() => srv.stats().pendingMessages === 1, 'a busy session');
    srv.endSession(quiet); // answered and ended by the server layer
    h.send(request(later));
    h.send(frame(head(later, 'in', 8), new Uint8Array(8)));
    await until(() => srv.stats().pendingMessages === 2, 'the session in its place');
    t.is(h.ws.readyState, WebSocket.OPEN);
    h.send(request(randomUUID()));
    t.regex((await h.closed).reason, /more than 2 sessions in progress on this connection/);
    const st = srv.stats();
    t.true(st.refused.pendingBytes === 1 && st.refused.unfinished === 2 && st.refused.sessions === 1, JSON.stringify(st.refused));
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

test('every size a peer declares is checked before anything is held', async (t) => {
  t.timeout(30_000);
  const env = await setup({ maxClientMessageBytes: 8 * MIB });
  const { srv, port } = env;
  try {
    const control = (x: string, body: string) => frame({ ...head(x, 'k', body.length, { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from(body));
    const probes: [string, (s: string) => Buffer, number, RegExp][] = [
      ['announces more than maxClientMessageBytes', (x) => frame(head(x, 'k', 64 * MIB), new Uint8Array(CHUNK_BYTES)), 1009, /of 67108864 bytes exceeds the limit of 8388608 \(maxClientMessageBytes\)/],
      ['a 16-byte seed announcing a huge tensor', (x) => frame(head(x, 'k', 16, { kind: 'seed', dtype: 'ring64', shape: [1 << 20, 1 << 10], nonce: '1' }), new Uint8Array(16)), 1009, /of 8589934592 bytes exceeds the limit/],
      ['a shape that does not match the byte count', (x) => frame(head(x, 'k', 8, { shape: [1e12] }), new Uint8Array(8)), 1008, /announces 8 bytes/],
      ['a chunk count inconsistent with the total', (x) => frame(head(x, 'k', 8, { chunks: 1e9 }), new Uint8Array(8)), 1008, /is inconsistent/],
      ['a body longer than announced', (x) => frame(head(x, 'k', 8), new Uint8Array(4000)), 1008, /carries 4000 bytes, not the 8/],
      ['a header length past the limit', () => Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2]), 1008, /header length 2147483647 is invalid/],
      ['a request that is not JSON', (x) => frame({ ...head(x, REQUEST_KEY, 3, { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from('{{{')), 1008, /not valid JSON/],
      // Held decoded, JSON takes up to ~20x its wire size: a client's data goes as tensors only.
      ['control mail from a client (neither a request nor an abort)', (x) => control(x, '[{},{},{}]'), 1008, /a client sends control messages only as requests and aborts, not as k/],
      // Requests and aborts are parsed whole as they come: JSON of tens of MiB held the loop for seconds.
      ['a request over maxClientRequestBytes', () => frame({ ...head(randomUUID(), REQUEST_KEY, 2 * MIB, { kind: 'control' }), dtype: undefined, shape: undefined }, new Uint8Array(2 * MIB)), 1009, /request of 2097152 bytes exceeds the limit of 1048576 \(maxClientRequestBytes\)/],
      ['an abort of more than 1024 bytes', (x) => frame({ ...head(x, ABORT_KEY, 2000, { kind: 'control' }), dtype: undefined, shape: undefined }, Buffer.from(JSON.stringify('x'.repeat(1998)))), 1009, /abort of 2000 bytes exceeds the limit of 1024 \(an abort\)/],
      ['an old-format frame', (x) => frame({ ...head(x, 'k', 8), v: 1 }, new Uint8Array(8)), 1008, /unsupported frame version/],
      ['a text frame', () => Buffer.alloc(0), 1008, /text frames are not accepted/],
      ['a chunk index that is not a number (and carries a forged log line)', (x) => frame(head(x, 'k', 8, { chunk: '0\n[tfe server1] forged' }), new Uint8Array(8)), 1008, /frame chunk 0\\n\[tfe server1\] forged\/1 of 8 bytes is inconsistent/],
    ];
    for (const [what, make, code, reason] of probes) {
      const m = await raw(port);
      const s = randomUUID();
      m.send(request(s));
      if (what === 'a text frame') m.ws.send('hello');
      else m.send(make(s));
      const c = await m.closed;
      t.is(c.code, code, `${what}: ${c.reason}`);
      t.regex(c.reason, reason, what);
    }
    // A continuation that contradicts its first chunk (its announced total), mid-message.
    const m = await raw(port);
    const s = randomUUID();
    m.send(request(s));
    m.send(frame(head(s, 'k', CHUNK_BYTES + 2 * MIB), new Uint8Array(CHUNK_BYTES)));
    await until(() => srv.stats().unfinishedMessages === 1, 'the first chunk');
    m.send(frame({ ...head(s, 'k', CHUNK_BYTES + 8), chunk: 1 }, new Uint8Array(8)));
    t.regex((await m.closed).reason, /contradicts its first chunk/);
    t.is(srv.stats().refused.messageBytes, 4);
    t.is(srv.stats().refused.malformed, 10);
    t.false(env.logs.some((l) => /[\n\r]/.test(l)), env.logs.join('\n'));
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

test('endSession frees what a refused request queued; its stragglers are dropped without punishing the client', async (t) => {
  const env = await setup();
  const { srv, cli } = env;
  try {
    const s = randomUUID();
    const peer = new Promise<string>((r) => srv.once('request', (p) => r(p)));
    await cli.send('server1', s, REQUEST_KEY, { kind: 'control', data: { type: 'predict' } });
    await cli.send('server1', s, 'in0', tensor(1000));
    await until(() => srv.stats().pendingBytes === 1000 + 'in0'.length + HELD_OVERHEAD, 'the queued input');
    await peer;
    srv.endSession(s); // the server layer refused the request
    t.is(srv.stats().pendingBytes, 0);
    const dropped = srv.stats().droppedFrames;
    await cli.send('server1', s, 'in1', tensor(1000)); // a straggler of the refused request
    await until(() => srv.stats().droppedFrames === dropped + 1, 'the straggler to be dropped');
    t.true(cli.connected('server1'));
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

// One host could take every client place (maxClientConnections, 256 by default), leaving none
// to anyone else; now each address has its share, and other addresses (127.0.0.2 here: Linux
// answers all of 127/8) and the servers' links are unaffected.
test('client connections from one address are bounded apart from other addresses; server links are not counted', async (t) => {
  t.timeout(30_000);
  const env = await setup({ maxClientConnectionsPerAddress: 2 }, ['server00']);
  const { srv, port } = env;
  const s2 = new WsEndpoint({ me: 'server00', clusterSecret: SECRET, log: () => undefined }); // a second server dialing server1 (smaller names dial)
  try {
    const second = await raw(port); // with the legitimate client: 2 from 127.0.0.1
    await t.throwsAsync(raw(port), { message: /^503 too many client connections from 127\.0\.0\.1: the limit is 2 per address \(maxClientConnectionsPerAddress\)/ });
    const elsewhere = await Promise.all([raw(port, undefined, { localAddress: '127.0.0.2' }), raw(port, undefined, { localAddress: '127.0.0.2' })]);
    await t.throwsAsync(raw(port, undefined, { localAddress: '127.0.0.2' }), { message: /from 127\.0\.0\.2: the limit is 2 per address/ });
    t.is(srv.stats().connections.clients, 4);
    // A place freed is a place again.
    second.ws.close();
    await second.closed;
    await until(() => srv.stats().connections.clients === 3, 'the closed client to be gone');
    const again = await raw(port);
    // A server's link from 127.0.0.1, whose two client places are taken again, is admitted.
    await s2.connect({ name: 'server1', host: '127.0.0.1', port });
    await until(() => srv.connected('server00'), 'the second server linked');
    t.is(srv.stats().connections.clients, 4);
    await stillServing(t, env);
    for (const r of [again, ...elsewhere]) r.ws.close();
  } finally {
    await s2.close();
    await env.close();
  }
});

test('client connections and raw sockets are bounded; server links are never counted as clients', async (t) => {
  t.timeout(30_000);
  const env = await setup({ maxClientConnections: 3, maxConnections: 6 });
  const { srv, port } = env;
  try {
    const two = await Promise.all([raw(port), raw(port)]); // with the legitimate client: 3
    await t.throwsAsync(raw(port), { message: /^503 too many client connections: the limit is 3 \(maxClientConnections\)/ });
    const late = new WsEndpoint({ me: 'client', log: () => undefined });
    await t.throwsAsync(late.connect({ name: 'server1', host: '127.0.0.1', port }, { asClient: true, timeoutMs: 5000 }), { message: /refused by server1: 503 too many client connections.*maxClientConnections/ });
    await late.close();
    // Raw sockets that never finish a handshake count too (server0, 3 clients, and 2 raw = 6).
    const sockets = await Promise.all(Array.from({ length: 2 }, () => new Promise<net.Socket>((r) => { const s = net.connect(port, '127.0.0.1', () => r(s)); })));
    await until(() => srv.stats().sockets === 6, 'six sockets');
    const answer = await new Promise<string>((r) => {
      let got = '';
      const s = net.connect(port, '127.0.0.1');
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => r(got));
      s.on('error', () => undefined);
    });
    t.regex(answer, /^HTTP\/1.1 503[\s\S]*too many connections: the limit is 6 \(maxConnections\)/);
    for (const s of sockets) s.destroy();
    for (const r of two) r.ws.close();
    await until(() => srv.stats().sockets === 2 && srv.stats().connections.clients === 1, 'the sockets to close');
    t.true(srv.stats().refused.connections >= 3);
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

test('heartbeats drop silent connections (server links too) but not busy ones; idle clients are closed', async (t) => {
  t.timeout(30_000);
  // The dying and busy links claim a second server name, so the legitimate server0 (which
  // re-dials at once) never replaces them.
  const env = await setup({ heartbeatMs: 100, heartbeatMisses: 2, clientIdleMs: 60_000 }, ['server0b']);
  const { srv, port } = env;
  try {
    const downs: string[] = [];
    srv.on('peer-down', (p) => downs.push(p));
    // A server link that has died silently (it answers no ping): detected and dropped.
    const dead = await raw(port, { 'x-tfe-party': 'server0b', 'x-tfe-cluster-secret': Buffer.from(SECRET).toString('base64url'), 'x-tfe-compute': String(COMPUTE_VERSION) }, { autoPong: false });
    await dead.closed;
    await until(() => downs.includes('server0b'), 'the dead link to be reported down');
    t.is(srv.stats().refused.heartbeat, 1);
    // A link that answers no ping but keeps sending is busy, not dead: it outlives 10 heartbeats.
    const busy = await raw(port, { 'x-tfe-party': 'server0b', 'x-tfe-cluster-secret': Buffer.from(SECRET).toString('base64url'), 'x-tfe-compute': String(COMPUTE_VERSION) }, { autoPong: false });
    for (let i = 0; i < 25; i++) {
      busy.send(frame(head('epoch:busy', `k${i}`, 8), new Uint8Array(8)));
      await new Promise((r) => setTimeout(r, 40));
    }
    t.is(busy.ws.readyState, WebSocket.OPEN);
    t.is(srv.stats().refused.heartbeat, 1);
    // The legitimate peers (pongs answered by ws) were never dropped.
    await busy.closed; // silent now: dropped
    srv.endSession('epoch:busy'); // a server link's messages outlive it; ending the session frees them
    t.true(env.cli.connected('server1') && env.s0.connected('server1'));
    t.false(downs.includes('server0') || downs.some((d) => d.startsWith('client#')), downs.join());
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
  const idle = await setup({ heartbeatMs: 50, clientIdleMs: 300, handshakeTimeoutMs: 400 });
  try {
    const m = await raw(idle.port);
    // A socket that never finishes its handshake is answered 408 and closed.
    const silent = await new Promise<string>((r) => {
      let got = '';
      const s = net.connect(idle.port, '127.0.0.1');
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => r(got));
      s.on('error', () => undefined);
    });
    t.regex(silent, /^HTTP\/1.1 408/);
    const c = await m.closed;
    t.is(c.code, 1001);
    t.regex(c.reason, /idle for over 300 ms \(clientIdleMs\)/);
    t.true(idle.s0.connected('server1'), idle.logs.join('\n')); // server links are never idle-closed
  } finally {
    await idle.close();
  }
});

test('plain ws: a server link needs the cluster secret; without one configured, a loud warning', async (t) => {
  const env = await setup();
  const { srv, s0, port, logs } = env;
  try {
    await t.throwsAsync(raw(port, { 'x-tfe-party': 'server0' }), { message: /^401 party 'server0' sent no cluster secret/ });
    await t.throwsAsync(raw(port, { 'x-tfe-party': 'server0', 'x-tfe-cluster-secret': 'Z3Vlc3M' }), { message: /^401 party 'server0' sent a wrong cluster secret/ });
    const liar = new WsEndpoint({ me: 'server0', clusterSecret: 'guess', log: () => undefined });
    // The refusal comes at once; the timeout only bounds a hang (200 ms timed out on a loaded CI host).
    await t.throwsAsync(liar.connect({ name: 'server1', host: '127.0.0.1', port }, { timeoutMs: 5000 }), { message: /wrong cluster secret/ });
    await liar.close();
    t.true(s0.connected('server1') && srv.connected('server0')); // the real link was not replaced
    t.true(srv.stats().refused.auth >= 3);
    t.false(logs.some((l) => /WARNING/.test(l)));
    await stillServing(t, env);
  } finally {
    await env.close();
  }
  const warned: string[] = [];
  const open = new WsEndpoint({ me: 'server1', log: (m) => warned.push(m) });
  await open.start(['server0']);
  await open.close();
  t.is(warned.filter((l) => /WARNING: plain ws without a clusterSecret/.test(l)).length, 1);
});

test('control payloads of any size travel in the body; one over the receiver\'s limit fails at the sender, never hangs', async (t) => {
  t.timeout(30_000);
  const env = await setup({ maxClientMessageBytes: MIB });
  const { srv, s0, cli } = env;
  try {
    // A 6 MiB control message (a large model topology) between servers arrives intact, chunked.
    const topology = { layers: Array.from({ length: 60_000 }, (_, i) => ({ name: `dense_${i}`, units: i, pad: 'x'.repeat(80) })) };
    await s0.send('server1', 'epoch:e:deploy', 'topology', { kind: 'control', data: topology });
    const got = await srv.recv('server0', 'epoch:e:deploy', 'topology');
    t.true(got.kind === 'control' && JSON.stringify(got.data) === JSON.stringify(topology));
    srv.endSession('epoch:e:deploy');
    // A client request over the server's maxClientMessageBytes: the client's wait for the answer fails naming the limit.
    const s = randomUUID();
    const answer = cli.recv('server1', s, 'res');
    await cli.send('server1', s, REQUEST_KEY, { kind: 'control', data: { type: 'deploy', topology } });
    await t.throwsAsync(answer, { message: /1009: message req of \d+ bytes exceeds the limit of 1048576 \(maxClientMessageBytes\)/ });
    // Something that cannot be framed at all fails at send() and fails the session's waiters.
    const s2 = randomUUID();
    const waiting = cli.recv('server1', s2, 'res');
    await t.throwsAsync(cli.send('server1', s2, 'k'.repeat(5000), { kind: 'control', data: 1 }), { message: /header .* is \d+ bytes \(max 4096\)/ });
    await t.throwsAsync(waiting, { message: /could not send/ });
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

test('sanitizeForLog escapes control characters and caps length', (t) => {
  t.is(sanitizeForLog('a\nb\r\tc\u001b[2J\u2028'), 'a\\nb\\r\\tc\\u001b[2J\\u2028');
  t.is(sanitizeForLog('x'.repeat(300), 10), 'xxxxxxxxxx...(290 more chars)');
  t.is(sanitizeForLog({ toString: () => { throw new Error('no'); } }), '[unprintable]');
  t.is(sanitizeForLog(`${'a'.repeat(9)}\u{1F600}`, 10), 'aaaaaaaaa...(2 more chars)');
  // Refusal logs are rate-limited, and say how many lines they left out.
  const lines: string[] = [];
  const now = Date.now;
  let clock = 1_000_000;
  Date.now = () => clock;
  try {
    const log = throttledLog((m) => lines.push(m), 3);
    for (let i = 0; i < 10; i++) log(`refusal ${i}`);
    clock += 1000;
    log('later');
  } finally {
    Date.now = now;
  }
  t.deepEqual(lines, ['refusal 0', 'refusal 1', 'refusal 2', '(7 more refusals not logged: over 3 a second)', 'later']);
});

test("a write that fails because a client went away is routine (info); any other failure, or a server link's, is a warning", (t) => {
  const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
  for (const e of [err('write EPIPE', 'EPIPE'), err('read ECONNRESET', 'ECONNRESET'), err('Cannot call write after a stream was destroyed', 'ERR_STREAM_DESTROYED'), err('WebSocket is not open: readyState 2 (CLOSING)')]) {
    t.is(sendFailureEvent(true, e), 'client-gone', e.message);
    t.is(sendFailureEvent(false, e), 'send-failed', `${e.message} on a server link`);
  }
  t.is(sendFailureEvent(true, err('frame too large', 'ERR_OUT_OF_RANGE')), 'send-failed');
  t.is(sendFailureEvent(true, err('something else')), 'send-failed');
});

test('clients ending many sessions cannot push out the memory of the servers\' ended sessions', (t) => {
  const mb = new Mailbox((s) => (s.startsWith('epoch:') ? 'server' : 'client'));
  mb.end('epoch:old');
  for (let i = 0; i < 5000; i++) mb.abort(randomUUID(), 'client gone');
  mb.deliver('server0', 'epoch:old', 'late', tensor(100), 100); // a straggler of the ended session
  t.true(mb.finished('epoch:old'));
  t.deepEqual(mb.totals(), { bytes: 0, messages: 0, waiting: 0 });
});

// A retired setup's pool sessions are ended by prefix (WsEndpoint.endSessionsWithPrefix), those
// not seen yet included. A message of one of them still arriving in chunks then was neither in
// the mailbox (so not ended) nor finished by its later chunks (dropped as stragglers): its partial
// and its declared size were held until the link closed.
test('a chunked message arriving while its session is ended by prefix is freed as its next chunk comes', async (t) => {
  const env = await setup({}, ['server0b']);
  const { srv, port } = env;
  try {
    const s0b = await raw(port, { 'x-tfe-party': 'server0b', 'x-tfe-cluster-secret': Buffer.from(SECRET).toString('base64url'), 'x-tfe-compute': String(COMPUTE_VERSION) });
    const h = head('pool:e1:5', 'k', CHUNK_BYTES + 8);
    s0b.send(frame(h, new Uint8Array(CHUNK_BYTES)));
    await until(() => srv.stats().unfinishedMessages === 1, 'the first chunk');
    srv.endSessionsWithPrefix('pool:e1:');
    s0b.send(frame({ ...h, chunk: 1 }, new Uint8Array(8)));
    await until(() => srv.stats().unfinishedMessages === 0 && srv.stats().unfinishedBytes === 0, 'the partial to be freed');
    // A new message under the prefix is dropped whole; another setup's goes through.
    s0b.send(frame(head('pool:e1:6', 'k', 8), new Uint8Array(8)));
    s0b.send(frame(head('pool:e2:6', 'k', 8), new Uint8Array(8)));
    const got = await srv.recv('server0b', 'pool:e2:6', 'k');
    t.true(got.kind === 'tensor' && got.data.length === 8);
    t.like(srv.stats(), { pendingMessages: 0, pendingBytes: 0, unfinishedMessages: 0 });
    await t.throwsAsync(srv.recv('server0b', 'pool:e1:6', 'k'), { message: /was ended/ });
    s0b.ws.close();
  } finally {
    await env.close();
  }
});

// A client can make server0 send server1 a second message under one key of a session: a leased
// query sent to server0 alone leaves server0's next-lease decision at server1 (a session server1
// never saw), and once server0's bounded memory of ended sessions has forgotten it, the client
// uses that session id again. The duplicate used to be a malformed frame that closed the server
// link, failing every query in flight and setting the cluster up again, as often as a client liked.
test("a server's duplicate message ends that session here, not the server link", async (t) => {
  const env = await setup();
  const { srv, s0, logs } = env;
  try {
    for (const [i, session] of [randomUUID(), 'epoch:e1:model:m'].entries()) {
      await s0.send('server1', session, 'next-lease', { kind: 'control', data: { none: true } });
      await s0.send('server1', session, 'next-lease', { kind: 'control', data: { none: true } });
      await until(() => logs.filter((l) => /sent next-lease twice/.test(l)).length === i + 1, 'the duplicate to be seen');
      t.is(srv.stats().pendingMessages, 0, 'the first message went with its session');
      await t.throwsAsync(srv.recv('server0', session, 'next-lease'), { message: /server0 sent next-lease twice in this session/ });
    }
    t.true(s0.connected('server1') && srv.connected('server0'), 'the link stays');
    t.is(srv.stats().refused.malformed, 0);
    t.is(logs.filter((l) => /sent next-lease twice/.test(l)).length, 2);
    await stillServing(t, env);
    await atBaseline(t, srv);
  } finally {
    await env.close();
  }
});

// A query a client sends to server0 alone leaves server0's messages to server1 (its next-lease
// decision, say) in a session server1 never sees: nothing ended it there, so each such query
// held a message at server1 for good. Sessions no client opened are ended after orphanSessionMs.
test('servers\' messages in a client session no client opened here are ended after orphanSessionMs; an opened one is kept', async (t) => {
  const env = await setup({ orphanSessionMs: 300, heartbeatMs: 100 });
  const { srv, s0, cli, logs } = env;
  try {
    const orphan = randomUUID(), opened = randomUUID();
    await cli.send('server1', opened, REQUEST_KEY, { kind: 'control', data: { type: 'predict' } });
    await until(() => srv.stats().clientSessions === 1, 'the client to open its session');
    await s0.send('server1', orphan, 'next-lease', { kind: 'control', data: { none: true } });
    await s0.send('server1', opened, 'next-lease', { kind: 'control', data: { none: true } });
    await until(() => srv.stats().pendingMessages === 2, 'both messages');
    await until(() => logs.some((l) => /ended session .*: its servers' messages waited \d+ ms for a client that never opened it here/.test(l)), 'the orphan to be ended', 3000);
    t.is(srv.stats().pendingMessages, 1, 'the opened session keeps its message');
    await t.throwsAsync(srv.recv('server0', orphan, 'next-lease'), { message: /no client opened it here/ });
    await new Promise((r) => setTimeout(r, 500)); // several sweeps later, the opened one is still there
    t.deepEqual(await srv.recv('server0', opened, 'next-lease'), { kind: 'control', data: { none: true } });
    srv.endSession(opened);
    await stillServing(t, env);
  } finally {
    await env.close();
  }
});

test("an endpoint without orphanSessionMs (a client's: no client opens its sessions) ends none so", async (t) => {
  // A PredictionClient's own request sessions are UUIDs no client opened at it: with a default
  // sweep, every query or deploy running past it was aborted ("no client opened it here").
  const a = new WsEndpoint({ me: 'server0', log: () => undefined, heartbeatMs: 100 });
  await a.start([]);
  // The control: the same client endpoint given the option loses its answer, so the test can see a sweep.
  for (const [i, orphanSessionMs] of [undefined, 300].entries()) {
    const said: string[] = [];
    const b = new WsEndpoint({ me: 'client', log: (m: string) => said.push(m), heartbeatMs: 100, orphanSessionMs });
    await b.connect({ name: 'server0', host: '127.0.0.1', port: a.port }, { asClient: true });
    try {
      const session = randomUUID();
      await until(() => a.connected(`client#${i + 1}`), 'the client link');
      await a.send(`client#${i + 1}`, session, 'answer', { kind: 'control', data: 1 });
      // Seven heartbeats; the control waits for its sweep itself (under load a fixed wait of
      // seven was sometimes too short for it, and the control failed).
      await new Promise((r) => setTimeout(r, 700));
      if (orphanSessionMs === undefined) {
        t.deepEqual(await b.recv('server0', session, 'answer'), { kind: 'control', data: 1 });
        t.false(said.some((l) => /ended session/.test(l)));
      } else {
        await until(() => said.some((l) => /ended session/.test(l)), 'the control\'s sweep', 10_000);
        await t.throwsAsync(b.recv('server0', session, 'answer'), { message: /no client opened it here/ });
      }
    } finally {
      await b.close();
    }
  }
  await a.close();
});

test('a dial that finishes after close() does not leave a live connection on the closed endpoint', async (t) => {
  const a = new WsEndpoint({ me: 'server0', log: () => undefined });
  await a.start([]);
  try {
    const b = new WsEndpoint({ me: 'client', log: () => undefined });
    const dialing = b.connect({ name: 'server0', host: '127.0.0.1', port: a.port }, { asClient: true }).catch((e: Error) => e.message);
    await b.close(); // before the upgrade's answer
    await dialing;
    await new Promise((r) => setTimeout(r, 300));
    t.is(a.stats().connections.clients, 0, 'the server sees no client left connected');
    t.false(b.connected('server0'));
  } finally {
    await a.close();
  }
});

test('a client endpoint says why its last dial failed, and a dial loop that has ended starts again when hurried', async (t) => {
  // A loop ends on a refusal that seems final (401/403, an untrusted certificate) or its deadline;
  // before, hurry() then did nothing, and every later query said only "server0 is unreachable".
  const probe = new WsEndpoint({ me: 'server0', log: () => undefined });
  await probe.start([]);
  const port = probe.port;
  await probe.close(); // nothing listens there now
  const cli = new WsEndpoint({ me: 'client', log: () => undefined });
  try {
    await t.throwsAsync(cli.connect({ name: 'server0', host: '127.0.0.1', port }, { asClient: true, timeoutMs: 300 }), { message: /could not connect to server0/ });
    t.regex(cli.dialError('server0') ?? '', /ECONNREFUSED/);
    const srv = new WsEndpoint({ me: 'server0', port, log: () => undefined });
    await srv.start([]);
    try {
      cli.hurry('server0');
      await until(() => cli.connected('server0'), 'the link, dialed again by hurry()', 3000);
      t.is(cli.dialError('server0'), undefined, 'no error while connected');
    } finally {
      await srv.close();
    }
  } finally {
    await cli.close();
  }
});
