// Lanes beside server links (lib/net/lane.ts, lane_link.ts): what crosses one is sealed, a lane
// belongs to one TLS link and is taken once, a changed, repeated or oversized record cuts it and
// its link (which comes back with a new lane), and a link whose lane cannot come up still works,
// without one. Messages are checked against what was sent, byte for byte.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

import test from 'ava';

import { getBackend } from '../lib/backend/backends';
import { laneKeys } from '../lib/net/lane';
import { dialLane, LaneListener } from '../lib/net/lane_link';
import type { Payload, Received } from '../lib/net/transport';
import { MAX_FRAME_BYTES } from '../lib/net/wire';
import { WsEndpoint, type WsEndpointOptions } from '../lib/net/ws_endpoint';
import { freeBuffer } from '../lib/backend/wire_buffers';
import { holdInto, holdOnArrival } from '../lib/serve/hold_on_arrival';
import { freePorts } from '../lib/serve/local_cluster';
import type { RingTensor } from '../lib/tensor/ring_tensor';
import { tlsMaterial } from '../bench/lib/tls_material';
import { lanePair } from './helpers/lane_pair';

const MIB = 1 << 20;

const TLS = tlsMaterial();

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A TCP forwarder from 127.0.0.1:port to 127.0.0.2:port, on a free port it takes itself (a port
 * picked ahead could be taken meanwhile by another test file's connections), that records what
 * passes each way and may change it (`edit`, per chunk, dialer to listener), or cut every
 * connection (`cut`).
 */
async function forwarder(): Promise<{ port: number; sent: Buffer[]; edit?: (d: Buffer) => Buffer; cut: () => void; close: () => Promise<void> }> {
  const conns = new Set<net.Socket>();
  const f = {
    port: 0,
    sent: [] as Buffer[],
    edit: undefined as undefined | ((d: Buffer) => Buffer),
    cut: () => conns.forEach((c) => c.destroy()),
    close: () => new Promise<void>((r) => (f.cut(), server.close(() => r()))),
  };
  const server = net.createServer((inbound) => {
    const out = net.connect(f.port, '127.0.0.2');
    conns.add(inbound).add(out);
    inbound.on('data', (d: Buffer) => {
      f.sent.push(Buffer.from(d));
      out.write(f.edit ? f.edit(d) : d);
    });
    out.on('data', (d: Buffer) => inbound.write(d));
    for (const [a, b] of [[inbound, out], [out, inbound]]) {
      a.on('close', () => b.destroy());
      a.on('error', () => b.destroy());
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  f.port = (server.address() as net.AddressInfo).port;
  return f;
}

/** Opens a recorded record (ciphertext then tag) under `key` and `counter`, in place; whether its tag matched. */
function openRecord(key: Uint8Array, counter: number, rec: Buffer, data = Buffer.from(rec.subarray(4, rec.byteLength - 16))): boolean {
  const native = getBackend().native;
  const ctx = native.laneOpenBegin(key, counter, rec.subarray(0, 4));
  native.laneOpenUpdate(ctx, data, data);
  return native.laneOpenEnd(ctx, rec.subarray(rec.byteLength - 16));
}

const sample = (bytes: number): Payload => ({ kind: 'tensor', dtype: 'bit', shape: [bytes], data: new Uint8Array(randomBytes(bytes)) });
const bytesOf = (r: Received) => {
  if (r.kind !== 'tensor') throw new Error(`expected a tensor, got ${r.kind}`);
  return Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
};

/** Endpoints a (dialer) and b (listener) over mutual TLS; b optionally behind forwarders (its ws port, and its lane port when `laneProxied`). */
async function pair(t: { teardown: (f: () => Promise<void>) => void }, o: { a?: Partial<WsEndpointOptions>; b?: Partial<WsEndpointOptions>; behind?: 'ws' | 'ws+lane' } = {}) {
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  // The forwarders take their ports first; b listens on the same ports of 127.0.0.2. Behind 'ws'
  // alone, nothing listens on 127.0.0.1 at b's lane port (a's lane dial fails there).
  const wsProxy = o.behind ? await forwarder() : undefined;
  const laneProxy = o.behind === 'ws+lane' ? await forwarder() : undefined;
  const port = wsProxy?.port ?? 0, lanePort = laneProxy?.port ?? (o.behind ? (await freePorts(1))[0] : 0);
  const a = new WsEndpoint({ me: 'a', tls: TLS.a, log, ...o.a });
  const b = new WsEndpoint({ me: 'b', tls: TLS.b, log, ...(o.behind ? { host: '127.0.0.2', port, lanePort } : {}), ...o.b });
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()]);
    await wsProxy?.close();
    await laneProxy?.close();
  });
  await Promise.all([a.start(['b']), b.start(['a'])]);
  await a.connect({ name: 'b', host: '127.0.0.1', port: o.behind ? port : b.port });
  await until(() => b.connected('a'), 'b to take the link');
  return { a, b, logs, wsProxy, laneProxy };
}

test('a TLS server link carries its messages over its lane: several chunks, small ones, both ways, in order and intact', async (t) => {
  const { a, b } = await pair(t);
  t.true(a.hasLane('b') && b.hasLane('a'));
  t.is(typeof b.lanePort, 'number');
  const big = sample(9 * MIB + 123), small = sample(100), ctl: Payload = { kind: 'control', data: { hello: 'lane' } };
  const got = Promise.all([b.recv('a', 's1', 'big'), b.recv('a', 's1', 'small'), b.recv('a', 's2', 'ctl'), a.recv('b', 's1', 'back')]);
  await Promise.all([a.send('b', 's1', 'big', big), a.send('b', 's1', 'small', small), a.send('b', 's2', 'ctl', ctl), b.send('a', 's1', 'back', small)]);
  const [gBig, gSmall, gCtl, gBack] = await got;
  t.true(bytesOf(gBig).equals(Buffer.from((big as { data: Uint8Array }).data)));
  t.true(bytesOf(gSmall).equals(Buffer.from((small as { data: Uint8Array }).data)));
  t.deepEqual(gCtl, { kind: 'control', data: { hello: 'lane' } });
  t.true(bytesOf(gBack).equals(Buffer.from((small as { data: Uint8Array }).data)));
});

test('lanes off at either end: the link comes up without one and carries everything over TLS', async (t) => {
  for (const side of ['a', 'b'] as const) {
    const { a, b } = await pair(t, { [side]: { lanes: false } });
    t.false(a.hasLane('b') || b.hasLane('a'), `lanes off at ${side}`);
    t.is(b.lanePort === undefined, side === 'b');
    const m = sample(5 * MIB);
    const got = b.recv('a', 's', 'k');
    await a.send('b', 's', 'k', m);
    t.true(bytesOf(await got).equals(Buffer.from((m as { data: Uint8Array }).data)));
  }
});

test('a lane port the dialer cannot reach: the link comes up without its lane and says why', async (t) => {
  // b binds 127.0.0.2 and is reached through a forwarder on 127.0.0.1 that passes its WebSocket
  // port only, as a NAT that forwards one port would.
  const { a, b, logs } = await pair(t, { behind: 'ws' });
  t.false(a.hasLane('b'));
  t.false(b.hasLane('a'));
  t.true(logs.some((l) => /runs without its lane/.test(l) && /lanePort/.test(l)), logs.join('\n'));
  const m = sample(MIB);
  const got = b.recv('a', 's', 'k');
  await a.send('b', 's', 'k', m);
  t.true(bytesOf(await got).equals(Buffer.from((m as { data: Uint8Array }).data)));
});

test('what crosses a lane is sealed; a changed record cuts the lane and its link, which comes back with a new lane', async (t) => {
  const { a, b, laneProxy } = await pair(t, { behind: 'ws+lane' });
  t.true(a.hasLane('b') && b.hasLane('a'));
  // A recognisable plaintext: the recorded lane bytes must not contain it.
  const secret = Buffer.alloc(256 * 1024);
  for (let i = 0; i < secret.length; i += 16) secret.write('tfe-lane-secret!', i);
  const payload: Payload = { kind: 'tensor', dtype: 'bit', shape: [secret.length], data: new Uint8Array(secret) };
  let got = b.recv('a', 's', 'k1');
  await a.send('b', 's', 'k1', payload);
  t.true(bytesOf(await got).equals(secret));
  const wire = Buffer.concat(laneProxy!.sent);
  t.true(wire.byteLength > secret.byteLength, 'the forwarder recorded the record');
  t.is(wire.indexOf('tfe-lane-secret!'), -1, 'the plaintext does not cross the lane');
  t.not(secret.indexOf('tfe-lane-secret!'), -1, 'control: the search finds the pattern where it is');
  // Flip one byte of the next record: the listener's lane fails its tag and the link goes.
  let flipped = false;
  laneProxy!.edit = (d) => {
    if (flipped || d.byteLength < 64) return d;
    flipped = true;
    const e = Buffer.from(d);
    e[40] ^= 1;
    return e;
  };
  const lost = b.recv('a', 's', 'k2').then(() => 'delivered', () => 'failed');
  await a.send('b', 's', 'k2', sample(MIB)).catch(() => undefined);
  t.is(await lost, 'failed', 'a changed record is never delivered');
  laneProxy!.edit = undefined;
  await until(() => a.hasLane('b') && b.hasLane('a') && b.connected('a'), 'the link and a new lane');
  const m = sample(2 * MIB);
  got = b.recv('a', 's3', 'k');
  await a.send('b', 's3', 'k', m);
  t.true(bytesOf(await got).equals(Buffer.from((m as { data: Uint8Array }).data)));
});

test('a lane record repeated, reordered or announced over the limit is refused before it is delivered or allocated', async (t) => {
  // A repeated record: its number is already used, so its tag fails.
  {
    const p = await lanePair();
    const chunks: Buffer[] = [];
    const write = p.raw.write.bind(p.raw);
    p.raw.write = ((d: Buffer) => (chunks.push(Buffer.from(d)), write(d))) as typeof p.raw.write;
    p.send.write([Buffer.from('one')]);
    await until(() => p.got.length === 1, 'the first record');
    write(chunks[0]);
    t.regex(await p.closed, /authentication tag/);
    t.deepEqual(p.got.map(String), ['one']);
    p.send.close('done');
  }
  // Two records swapped on the wire.
  {
    const p = await lanePair();
    const chunks: Buffer[] = [];
    p.raw.write = ((d: Buffer) => (chunks.push(Buffer.from(d)), true)) as typeof p.raw.write;
    p.send.write([Buffer.from('first')]);
    p.send.write([Buffer.from('second')]);
    net.Socket.prototype.write.call(p.raw, Buffer.concat([chunks[1], chunks[0]]));
    t.regex(await p.closed, /authentication tag/);
    t.is(p.got.length, 0);
    p.send.close('done');
  }
  // A length over the largest frame: cut before a byte is held for it.
  {
    const p = await lanePair();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
    p.raw.write(head);
    t.regex(await p.closed, new RegExp(`${MAX_FRAME_BYTES + 1} bytes is over the limit`));
    p.send.close('done');
  }
  // Control: the same records in order are delivered, and the sealing matches AES-128-GCM under
  // the sender's key with the record's number as nonce (what an eavesdropper would need).
  {
    const p = await lanePair();
    const chunks: Buffer[] = [];
    const write = p.raw.write.bind(p.raw);
    p.raw.write = ((d: Buffer) => (chunks.push(Buffer.from(d)), write(d))) as typeof p.raw.write;
    p.send.write([Buffer.from('alpha')]);
    p.send.write([Buffer.from('beta')]);
    await until(() => p.got.length === 2, 'both records');
    t.deepEqual(p.got.map(String), ['alpha', 'beta']);
    const rec = chunks[1];
    const data = Buffer.from(rec.subarray(4, rec.byteLength - 16));
    t.true(openRecord(p.keys.send, 1, rec, data));
    t.is(String(data), 'beta');
    t.false(openRecord(p.keys.send, 0, rec), 'under another number it fails');
    p.send.close('done');
    p.recv.close('done');
  }
});

test('each direction moves to its next key after so many bytes, both ends alike; a record under the next key does not open under the first', async (t) => {
  const p = await lanePair({ rekey: { send: 100, recv: 100 } });
  const chunks: Buffer[] = [];
  const write = p.raw.write.bind(p.raw);
  p.raw.write = ((d: Buffer) => (chunks.push(Buffer.from(d)), write(d))) as typeof p.raw.write;
  const sent = Array.from({ length: 12 }, (_, i) => `record ${i} `.padEnd(40, '.'));
  for (const m of sent) p.send.write([Buffer.from(m)]);
  await until(() => p.got.length === sent.length, 'every record');
  t.deepEqual(p.got.map(String), sent);
  // Records 0 and 1 (80 bytes) are under the first key, record 2 under the next.
  const open = (i: number) => openRecord(p.keys.send, i, chunks[i]);
  t.true(open(1));
  t.false(open(2));
  p.send.close('done');
  p.recv.close('done');
  // Control: a receiver that does not move to the next key fails at the first record after it.
  const q = await lanePair({ rekey: { send: 100 } });
  for (const m of sent) q.send.write([Buffer.from(m)]);
  t.regex(await q.closed, /authentication tag/);
  t.deepEqual(q.got.map(String), sent.slice(0, 2));
  q.send.close('done');
});

test('a lane belongs to one TLS link and is taken once: an unknown or reused name is refused and counted', async (t) => {
  const refused: string[] = [];
  const lanes = new LaneListener({ host: '127.0.0.1', port: 0, handshakeTimeoutMs: 2000, maxUnbound: 4, log: () => undefined, refused: (r) => refused.push(r) });
  await lanes.listen();
  const server = tls.createServer({ ...TLS.b, requestCert: true, rejectUnauthorized: false });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<tls.TLSSocket>((r) => server.once('secureConnection', r));
  const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ...TLS.a, rejectUnauthorized: false, checkServerIdentity: () => undefined });
  await new Promise((r) => client.once('secureConnect', r));
  const serverSide = await accepted;
  t.teardown(async () => {
    client.destroy();
    server.close();
    await lanes.close();
  });
  const dk = laneKeys(client, 'dialer'), lk = laneKeys(serverSide, 'listener');
  t.true(dk.id.equals(lk.id) && dk.send.equals(lk.recv) && dk.recv.equals(lk.send), 'both ends derive the same lane');
  t.false(dk.send.equals(dk.recv));
  const expected = lanes.expect(serverSide);
  const mine = await dialLane('127.0.0.1', lanes.port, client, 2000);
  const theirs = await expected;
  const got: string[] = [];
  theirs.attach({ onRecord: (r) => got.push(String(r)), onClose: () => undefined });
  mine.write([Buffer.from('over the lane')]);
  await until(() => got.length === 1, 'the record');
  t.deepEqual(got, ['over the lane']);
  // The same name again (a replay of the dialer's first bytes), then a name nobody expects.
  for (const name of [dk.id, randomBytes(16)]) {
    const s = net.connect(lanes.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(name);
    await new Promise((r) => s.once('close', r));
  }
  t.deepEqual(refused, ['auth', 'auth']);
  t.false(theirs.closed, 'the bound lane is untouched');
  mine.write([Buffer.from('still here')]);
  await until(() => got.length === 2, 'the second record');
  mine.close('done');
});

test('a flood of idle sockets on the lane port from where no lane is expected is refused at once: a server link still comes up with its lane and serves; the flood is counted', async (t) => {
  const logs: string[] = [];
  const b = new WsEndpoint({ me: 'b', tls: TLS.b, log: (m) => logs.push(m), maxConnections: 8 });
  const a = new WsEndpoint({ me: 'a', tls: TLS.a, log: (m) => logs.push(m) });
  await Promise.all([a.start(['b']), b.start(['a'])]);
  const flood: net.Socket[] = [];
  t.teardown(async () => {
    for (const s of flood) s.destroy();
    await Promise.all([a.close(), b.close()]);
  });
  // maxConnections 8 allows 4 lane sockets that have not named their lane yet: the flood would
  // hold them all (it did, and the link came up without its lane). No lane is expected yet from
  // this address, so each is refused as it comes.
  for (let i = 0; i < 8; i++) {
    const s = net.connect(b.lanePort!, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    flood.push(s);
  }
  await until(() => b.stats().refused.auth >= 8, 'the flood to be refused');
  await a.connect({ name: 'b', host: '127.0.0.1', port: b.port });
  await until(() => b.connected('a'), 'b to take the link');
  t.true(a.hasLane('b'), 'the link has its lane');
  const m = sample(MIB);
  const got = b.recv('a', 's', 'k');
  await a.send('b', 's', 'k', m);
  t.true(bytesOf(await got).equals(Buffer.from((m as { data: Uint8Array }).data)));
});

test('over a lane, a server tensor of one chunk is opened straight into the native tensor that holds it: intact, checked as fromBytes checks, nothing leaked when refused or cut', async (t) => {
  const opened: string[] = [];
  const server: Partial<WsEndpointOptions> = { adopt: holdOnArrival, holdInto: (s, d, shape) => (opened.push(`${d}[${shape.join(',')}]`), holdInto(s, d, shape)), release: freeBuffer };
  const { a, b, laneProxy } = await pair(t, { a: server, b: server, behind: 'ws+lane' });
  t.true(a.hasLane('b'));
  const native = getBackend().native;
  const before = native.stats().storages;
  const ring = (bytes: number): Payload => ({ kind: 'tensor', dtype: 'ring64', shape: [bytes / 8], data: new Uint8Array(randomBytes(bytes)) });
  // One chunk, large (opened in place), one small (copied by adopt), one of three chunks (joined, then copied).
  const sent = { big: ring(MIB), small: ring(1024), chunks: ring(9 * MIB) };
  for (const [k, p] of Object.entries(sent)) {
    const got = b.recv('a', 's', k);
    await a.send('b', 's', k, p);
    const r = await got;
    t.is(r.kind, 'held', k);
    if (r.kind !== 'held') continue;
    const tensor = r.tensor as RingTensor;
    t.true(Buffer.from(tensor.toBytes()).equals(Buffer.from((p as { data: Uint8Array }).data)), k);
    tensor.dispose();
  }
  // Bits must be 0 or 1: a large bit tensor with a 5 in it is filed as it came, not held (the
  // control: without the check it would be held).
  const bits = new Uint8Array(128 * 1024).fill(1);
  bits[777] = 5;
  let got = b.recv('a', 's', 'bits');
  await a.send('b', 's', 'bits', { kind: 'tensor', dtype: 'bit', shape: [bits.length], data: bits });
  const r = await got;
  t.is(r.kind, 'tensor');
  t.true(r.kind === 'tensor' && Buffer.from(r.data).equals(Buffer.from(bits)));
  const ok = new Uint8Array(128 * 1024).fill(1);
  got = b.recv('a', 's', 'bits-ok');
  await a.send('b', 's', 'bits-ok', { kind: 'tensor', dtype: 'bit', shape: [ok.length], data: ok });
  const held = await got;
  t.is(held.kind, 'held');
  if (held.kind === 'held') held.tensor.dispose();
  // Opened in place: the large tensors of one chunk, not the small one nor the one of three chunks.
  t.deepEqual(opened, [`ring64[${MIB / 8}]`, 'bit[131072]', 'bit[131072]']);
  // A body that fails its tag: the tensor it was being opened into is freed with the lane.
  let flipped = false;
  laneProxy!.edit = (d) => {
    if (flipped || d.byteLength < 1000) return d; // past the body's prefix record
    flipped = true;
    const e = Buffer.from(d);
    e[e.byteLength - 100] ^= 1;
    return e;
  };
  const lost = b.recv('a', 's2', 'k').then(() => 'delivered', () => 'failed');
  await a.send('b', 's2', 'k', ring(2 * MIB)).catch(() => undefined);
  t.is(await lost, 'failed');
  laneProxy!.edit = undefined;
  await until(() => a.hasLane('b') && b.hasLane('a') && b.connected('a'), 'the link and a new lane');
  t.true(flipped);
  t.is(opened.length, 4, 'the tampered body was being opened into a tensor');
  t.is(native.stats().storages, before, 'every tensor received or opened into was freed');
});

/**
 * The TCP timer Linux reports for `socket` (/proc/net/tcp 'tr': 0 none, 1 retransmit, 2
 * keep-alive), or undefined off Linux. Matched on both ports: Linux gives two connections to
 * different servers the same ephemeral local port, so the local port alone can name another socket.
 */
function tcpTimer(socket: net.Socket): number | undefined {
  if (!fs.existsSync('/proc/net/tcp')) return undefined;
  const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const [local, remote] = [hex(socket.localPort!), hex(socket.remotePort!)];
  const line = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').find((l) => {
    const f = l.trim().split(/\s+/);
    return f[1]?.endsWith(local) && f[2]?.endsWith(remote);
  });
  return line === undefined ? undefined : parseInt(line.trim().split(/\s+/)[5].split(':')[0], 16);
}

test('an idle lane sends TCP keep-alive probes (a NAT between the hosts keeps its flow); a plain socket does not', async (t) => {
  const p = await lanePair();
  const plain = await lanePair();
  t.teardown(() => { for (const q of [p, plain]) (q.send.close('done'), q.recv.close('done')); });
  plain.raw.setKeepAlive(false); // the control: as a socket with no keep-alive
  const [lane, control] = [tcpTimer(p.raw), tcpTimer(plain.raw)];
  if (lane === undefined) return t.log('no /proc/net/tcp here: not checked');
  t.is(lane, 2, 'a keep-alive timer runs on the idle lane');
  t.is(control, 0, 'none on a socket without keep-alive');
});

test("a lane closed with records still buffered fails the write's wait, and a write after it throws; a record that cannot be sealed changes nothing", async (t) => {
  const p = await lanePair();
  // A record that cannot be sealed (a part that is not bytes) throws; the next one still opens.
  t.throws(() => p.send.write([new Uint16Array(4) as unknown as Uint8Array]), { message: /Uint8Array/ });
  p.send.write([Buffer.from('after')]);
  await until(() => p.got.length === 1, 'the record after the failed one');
  t.deepEqual(p.got.map(String), ['after']);
  // The receiver stops reading: 16 MiB stay buffered on the sender, over its high-water mark.
  p.recv.socket.pause();
  const { drained } = p.send.write([new Uint8Array(16 * MIB)]);
  let settled = false;
  void drained.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setTimeout(r, 100));
  t.false(settled, 'waiting for the socket to drain');
  // A write nobody waits on (as a large body's header record): its wait fails too, unhandled by
  // the caller, which must not be an unhandled rejection (ava fails the file on one).
  p.send.write([new Uint8Array(1024)]);
  p.raw.destroy();
  await t.throwsAsync(drained, { message: /the lane closed before its buffered records were written/ });
  t.throws(() => p.send.write([Buffer.from('late')]), { message: /closed/ });
  p.recv.close('done');
});

test('records written above the high-water mark share one wait for the drain: no listener pile-up, every wait ends when the socket drains', async (t) => {
  const p = await lanePair();
  const base = { drain: p.raw.listenerCount('drain'), close: p.raw.listenerCount('close') };
  p.recv.socket.pause();
  // Thirty 1 MiB records buffered on the sender, twenty-odd of them past its 8 MiB high-water
  // mark; before, each of those added a drain and a close listener (Node warns past ten: "Possible
  // EventEmitter memory leak detected").
  const waits = Array.from({ length: 30 }, () => p.send.write([new Uint8Array(MIB)]).drained);
  t.is(p.raw.listenerCount('drain'), base.drain + 1);
  t.is(p.raw.listenerCount('close'), base.close + 1);
  let settled = 0;
  for (const w of waits) void w.then(() => settled++);
  await new Promise((r) => setTimeout(r, 100));
  t.true(settled <= 12, `${settled} records' waits over while the receiver reads nothing`);
  p.recv.socket.resume();
  await Promise.all(waits);
  await until(() => p.got.length === 30, 'every record');
  t.is(p.raw.listenerCount('drain'), base.drain, 'the listeners go with the drain');
  t.is(p.raw.listenerCount('close'), base.close);
  // After the drain, the next record over the mark waits on a drain of its own.
  p.recv.socket.pause();
  const later = Array.from({ length: 30 }, () => p.send.write([new Uint8Array(MIB)]).drained);
  t.is(p.raw.listenerCount('drain'), base.drain + 1);
  p.recv.socket.resume();
  await Promise.all(later);
  await until(() => p.got.length === 60, 'every record');
  p.send.close('done');
  p.recv.close('done');
});
