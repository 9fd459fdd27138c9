// Wire buffers freed at once (lib/backend/wire_buffers.ts, WsEndpointOptions.release): which
// buffers count as held alone (wire.ts `aloneIn`, decodeFrame's `alone`), that freeing never
// throws, and over real sockets that a received message is freed only after it was copied out
// and a sent one only after it was written, the receiver getting every byte either way (messages
// of one frame, of two fragments, and of several chunks). And the send path without a copy
// (RingTensor.bytesView), taken only where the transport frees what it wrote.
import test from 'ava';

import { getBackend } from '../lib/backend/backends';
import { freeBuffer } from '../lib/backend/wire_buffers';
import { MemoryTransport } from '../lib/net/memory_transport';
import type { Payload, Received } from '../lib/net/transport';
import { aloneIn, CHUNK_BYTES, decodeFrame, encodeFrames } from '../lib/net/wire';
import { WsEndpoint } from '../lib/net/ws_endpoint';
import { WebSocketTransport } from '../lib/net/ws_transport';
import { DEFAULT_FIXED_POINT, Party, tag } from '../lib/protocol/party';
import { RingTensor } from '../lib/ring';
import { holdOnArrival } from '../lib/serve/hold_on_arrival';
import { randomU64 } from './helpers/random';

test('aloneIn: a view that covers its whole buffer, and nothing else', (t) => {
  const own = new Uint8Array(new ArrayBuffer(64));
  t.is(aloneIn(own), own.buffer as ArrayBuffer);
  t.is(aloneIn(own.subarray(1)), undefined, 'a view into part of a buffer');
  t.is(aloneIn(own.subarray(0, 63)), undefined);
  const pooled = Buffer.allocUnsafe(100); // a slice of Node's shared pool
  t.true(pooled.buffer.byteLength > 100);
  t.is(aloneIn(pooled), undefined, "Node's pool holds other buffers' bytes");
});

test('decodeFrame says which memory holds the frame alone', (t) => {
  const tensor: Payload = { kind: 'tensor', dtype: 'ring64', shape: [4096], data: new Uint8Array(8 * 4096).fill(7) };
  const [[prefix, body]] = encodeFrames('s', 'k', tensor);
  // As ws hands over a large message: two fragments, each in a buffer of its own.
  const ownPrefix = Buffer.from(prefix), ownBody = Buffer.from(body);
  const two = decodeFrame([ownPrefix, ownBody]);
  t.is(two.alone, ownBody.buffer as ArrayBuffer);
  // One buffer holding prefix and body (a small message): the frame's buffer, when it is its own.
  const whole = Buffer.concat([prefix, body]);
  t.is(decodeFrame(whole).alone, whole.buffer as ArrayBuffer);
  // A frame read out of a larger buffer (other bytes around it): nothing may be freed.
  const bigger = Buffer.alloc(whole.byteLength + 16);
  whole.copy(bigger, 8);
  const inside = decodeFrame(bigger.subarray(8, 8 + whole.byteLength));
  t.is(inside.alone, undefined);
  t.deepEqual(new Uint8Array(inside.body), new Uint8Array(8 * 4096).fill(7));
});

test('freeBuffer frees at once and never throws', (t) => {
  const b = new ArrayBuffer(1 << 20);
  const view = new Uint8Array(b);
  freeBuffer(b);
  t.is(b.byteLength, 0);
  t.is(view.byteLength, 0, 'every view of it reads as empty');
  freeBuffer(b); // already freed
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
  const memory = new wasm.Memory({ initial: 1 });
  t.notThrows(() => freeBuffer(memory.buffer), 'a buffer V8 will not detach is left to the collector');
  t.is(memory.buffer.byteLength, 65536);
  t.notThrows(() => freeBuffer(new SharedArrayBuffer(8) as unknown as ArrayBuffer), 'nor does anything else the binding refuses');
});

/** Waits (up to 1 s) for `done`: a write's callback, or a freed view's finalizer, comes a moment later. */
// The tests that count native storages (process-wide) run serially, before the others: a tensor
// another test holds at that moment would change their count.
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

test('over real sockets: freed only once copied out (receiver) or written (sender), every byte arriving', async (t) => {
  const freedOnReceive: ArrayBuffer[] = [];
  const freedOnSend: ArrayBuffer[] = [];
  const recv = new WsEndpoint({ me: 'server1', log: () => undefined, adopt: holdOnArrival, release: (b) => (freedOnReceive.push(b), freeBuffer(b)) });
  const send = new WsEndpoint({ me: 'server0', log: () => undefined, release: (b) => (freedOnSend.push(b), freeBuffer(b)) });
  // One frame (joined to its prefix), two fragments, and three chunks of CHUNK_BYTES.
  const sizes = [100, 1 << 15, (2 * CHUNK_BYTES) / 8 + 1000];
  try {
    await recv.start(['server0']);
    await send.start(['server1']);
    await send.connect({ name: 'server1', host: '127.0.0.1', port: recv.port }, { timeoutMs: 2000 });
    const sent: Uint8Array[] = [];
    for (const [i, n] of sizes.entries()) {
      const values = randomU64(n);
      const data = new Uint8Array(values.buffer.slice(0)); // the sender's own copy, freed after the write
      sent.push(data);
      await send.send('server1', 's', `transient${i}`, { kind: 'tensor', dtype: 'ring64', shape: [n], data, transient: true });
      const kept = new Uint8Array(values.buffer.slice(0));
      await send.send('server1', 's', `kept${i}`, { kind: 'tensor', dtype: 'ring64', shape: [n], data: kept });
      // Both wait in the mailbox, counted at their size though their wire buffers were freed.
      await until(() => recv.stats().pendingBytes >= 16 * n);
      t.is(recv.stats().pendingBytes, 16 * n, 'held messages count their bytes');
      for (const key of [`transient${i}`, `kept${i}`]) {
        const got: Received = await recv.recv('server0', 's', key);
        if (got.kind !== 'held' || !(got.tensor instanceof RingTensor)) return t.fail(`${key} arrived as ${got.kind}`);
        t.true(Buffer.from(got.tensor.toBytes()).equals(Buffer.from(values.buffer)), `${key}: every byte, copied before the wire's buffer was freed`);
        got.tensor.dispose();
      }
      t.is(kept.byteLength, 8 * n, 'a payload not marked transient is never freed');
    }
    // The sender frees its transient bytes once written (the write's callback may come after recv).
    await until(() => sent.every((d) => d.byteLength === 0));
    t.deepEqual(sent.map((d) => d.byteLength), [0, 0, 0], 'each transient payload freed after its write');
    t.is(freedOnSend.length, 3);
    // The receiver frees what ws gave it buffers of its own for: the 256 KB messages (2), the
    // chunked ones once joined (2) and their two 4 MB chunks each (4); frames of a few KB (the
    // 800-byte messages, the chunked ones' last chunks) may come inside a buffer shared with
    // other reads, and are left to the collector.
    t.true(freedOnReceive.length >= 8, `freed ${freedOnReceive.length} received buffers`);
    t.true(freedOnReceive.every((b) => b.byteLength === 0));
  } finally {
    await Promise.all([send.close(), recv.close()]);
  }
});

test('a client endpoint neither adopts nor frees: what it receives stays readable', async (t) => {
  const released: ArrayBuffer[] = [];
  const server = new WsEndpoint({ me: 'server1', log: () => undefined, adopt: holdOnArrival, release: (b) => released.push(b) });
  const client = new WsEndpoint({ me: 'client', log: () => undefined });
  try {
    await server.start([]);
    await client.connect({ name: 'server1', host: '127.0.0.1', port: server.port }, { timeoutMs: 2000, asClient: true });
    const session = '3f1e0c2a-0000-4000-8000-000000000000';
    const asked = new Promise<string>((resolve) => server.once('request', (peer) => resolve(peer)));
    await client.send('server1', session, 'req', { kind: 'control', data: {} });
    const peer = await asked;
    const values = randomU64(1 << 15);
    await client.send('server1', session, 'x', { kind: 'tensor', dtype: 'ring64', shape: [1 << 15], data: new Uint8Array(values.buffer.slice(0)), transient: true });
    const got = await server.recv(peer, session, 'x');
    if (got.kind !== 'tensor') return t.fail(`a client's message was ${got.kind}`);
    t.true(Buffer.from(got.data).equals(Buffer.from(values.buffer)));
    t.deepEqual(released, [], "a client's message is filed as it came, never freed under the server");
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
});

test.serial('bytesView: the tensor bytes without a copy, kept alive after dispose until detached', async (t) => {
  const native = getBackend('cpu').native;
  const base = native.stats().storages;
  const values = randomU64(1000);
  const x = RingTensor.fromBigUint64Array(values);
  const view = x.bytesView()!;
  t.true(Buffer.from(view).equals(Buffer.from(values.buffer)));
  t.is(native.stats().storages, base + 1, 'no second buffer: the view is the tensor memory');
  x.dispose();
  t.is(native.stats().storages, base + 1, 'the view keeps the memory after dispose()');
  t.true(Buffer.from(view).equals(Buffer.from(values.buffer)));
  freeBuffer(view.buffer as ArrayBuffer);
  await until(() => native.stats().storages === base);
  t.is(native.stats().storages, base, 'detached: the memory goes back without a garbage collection');
  const empty = RingTensor.fromBigInts([], [0]);
  t.is(empty.bytesView()!.byteLength, 0);
  empty.dispose();
});

test.serial('a party sends views, not copies, only where the transport frees what it wrote; the receiver gets every byte', async (t) => {
  const native = getBackend('cpu').native;
  const plain = await WebSocketTransport.loopback(['server0', 'server1'], { log: () => undefined });
  const freeing = await WebSocketTransport.loopback(['server0', 'server1'], { log: () => undefined, adopt: holdOnArrival, release: freeBuffer });
  try {
    t.false(plain.freesSent('server0'));
    t.true(freeing.freesSent('server0'));
    t.false(new MemoryTransport(['server0', 'server1']).freesSent('server0'));
    for (const transport of [plain, freeing]) {
      const [p0, p1] = ['server0', 'server1'].map((n) => new Party(n, transport, DEFAULT_FIXED_POINT));
      const values = randomU64(1 << 16); // 512 KB: sent as its own fragment, received into a buffer of its own
      const base = native.stats().storages;
      const x = RingTensor.fromBigUint64Array(values);
      let views = 0;
      x.bytesView = () => (views++, RingTensor.prototype.bytesView.call(x));
      const op = { id: 1, name: 'test' };
      await p0.sendTensor('server1', tag(op, 'x'), x);
      t.is(views, transport === freeing ? 1 : 0, transport === freeing ? 'a view where the transport frees it' : 'a copy elsewhere');
      x.dispose();
      const y = await p1.recvTensor('server0', tag(op, 'x'), [1 << 16]);
      t.true(Buffer.from(y.toBytes()).equals(Buffer.from(values.buffer)));
      y.dispose();
      // Where the transport frees what it wrote, the sent view's memory goes back once written.
      if (transport === freeing) {
        await until(() => native.stats().storages === base);
        t.is(native.stats().storages, base, 'the view was freed after the write, without a collection');
      }
    }
  } finally {
    await Promise.all([plain.close(), freeing.close()]);
  }
});
