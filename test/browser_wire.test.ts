// The browser's wire code (lib/browser/wire.ts) against the Node implementation (lib/net/wire.ts),
// both directions, and the message keys the browser client hard-codes against the Node code that
// produces them: the browser bundle cannot import the Node modules, so these tests are the link.
import test from 'ava';

import * as BC from '../lib/browser/client';
import * as BW from '../lib/browser/wire';
import { ABORT_KEY, REQUEST_KEY } from '../lib/net/ws_endpoint';
import { type PartyName, type Payload, Transport } from '../lib/net/transport';
import * as NW from '../lib/net/wire';
import { tag } from '../lib/protocol/party';
import { RESPONSE_KEY } from '../lib/serve/messages';
import { inputOp, OUTPUT_OP } from '../lib/serve/programs';

const SESSION = '0f8fad5b-d9cb-469f-a165-70867728950e';

/** A Node frame as the server puts it on the wire: prefix and body as one message. */
const nodeFrames = (key: string, p: Payload) => NW.encodeFrames(SESSION, key, p).map(([a, b]) => Buffer.concat([a, b]));

test('browser frames decode on the Node side: control, seed and tensor', (t) => {
  const ctl = BW.encodeMessage(SESSION, 'req', { kind: 'control', data: { type: 'predict', model: 'm', shape: [1, 784] } });
  t.is(ctl.length, 1);
  const c = NW.decodeFrame(Buffer.from(ctl[0]));
  t.deepEqual(NW.toPayload(c.header, c.body), { kind: 'control', data: { type: 'predict', model: 'm', shape: [1, 784] } });

  const seed = Uint8Array.from({ length: 16 }, (_, i) => i);
  const s = NW.decodeFrame(Buffer.from(BW.encodeMessage(SESSION, BC.INPUT_KEY, { kind: 'seed', dtype: 'ring64', shape: [1, 784], seed, nonce: 1n })[0]));
  const sp = NW.toPayload(s.header, s.body);
  t.is(sp.kind, 'seed');
  if (sp.kind === 'seed') {
    t.deepEqual([...sp.seed], [...seed]);
    t.is(sp.nonce, 1n);
    t.deepEqual(sp.shape, [1, 784]);
    t.is(NW.messageCost(s.header), 784 * 8);
  }

  const data = Uint8Array.from({ length: 24 }, (_, i) => 255 - i);
  const tf = NW.decodeFrame(Buffer.from(BW.encodeMessage(SESSION, 'k', { kind: 'tensor', dtype: 'ring64', shape: [3], data })[0]));
  const tp = NW.toPayload(tf.header, tf.body);
  t.like(tp, { kind: 'tensor', dtype: 'ring64', shape: [3] });
  if (tp.kind === 'tensor') t.deepEqual([...tp.data], [...data]);
});

test('Node frames decode in the browser, a chunked message included', (t) => {
  const frames = nodeFrames('res', { kind: 'control', data: { ok: true, models: [{ name: 'a' }] } });
  const d = BW.decodeFrame(new Uint8Array(frames[0]));
  t.deepEqual(BW.toMessage(d.header, d.body), { kind: 'control', data: { ok: true, models: [{ name: 'a' }] } });

  // Over CHUNK_BYTES: several frames, reassembled in order.
  const n = NW.CHUNK_BYTES / 8 + 5;
  const big = new Uint8Array(n * 8).map((_, i) => (i * 7) & 255);
  const parts = nodeFrames('out', { kind: 'tensor', dtype: 'ring64', shape: [n], data: big });
  t.is(parts.length, 2);
  const r = new BW.Reassembler();
  let done: ReturnType<BW.Reassembler['add']>;
  for (const f of parts) {
    const { header, body } = BW.decodeFrame(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    done = r.add(header, body);
  }
  t.truthy(done);
  const m = BW.toMessage(done!.first, done!.body);
  t.is(m.kind, 'tensor');
  if (m.kind === 'tensor') t.true(Buffer.from(m.data).equals(Buffer.from(big)));
  t.is(BW.CHUNK_BYTES, NW.CHUNK_BYTES);
  t.is(BW.WIRE_VERSION, NW.WIRE_VERSION);
});

test('the browser refuses malformed frames with a reason', (t) => {
  t.throws(() => BW.decodeFrame(new Uint8Array(2)), { message: /too short/ });
  const f = nodeFrames('res', { kind: 'control', data: 1 })[0];
  const wrongVersion = Buffer.from(f.toString('latin1').replace('"v":2', '"v":9'), 'latin1');
  t.throws(() => BW.decodeFrame(new Uint8Array(wrongVersion)), { message: /version/ });
  t.throws(() => BW.decodeFrame(new Uint8Array(f.subarray(0, f.byteLength - 1))), { message: /announces/ });
  // What a first chunk declares, checked before anything is held (as the Node side does).
  const frame = (h: Record<string, unknown>, body: Uint8Array) => {
    const head = Buffer.from(JSON.stringify({ v: BW.WIRE_VERSION, session: 's', key: 'k', chunk: 0, ...h }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.byteLength);
    return new Uint8Array(Buffer.concat([len, head, body]));
  };
  t.throws(() => BW.decodeFrame(frame({ kind: 'tensor', chunks: 1, total: 8, dtype: 'ring64', shape: [1e6, 1e6] }, new Uint8Array(8))), { message: /tensor of shape \[1000000,1000000\] ring64 announces 8 bytes/ });
  t.throws(() => BW.decodeFrame(frame({ kind: 'tensor', chunks: 1, total: 8, dtype: 'bogus', shape: [1] }, new Uint8Array(8))), { message: /unknown dtype "bogus"/ });
  t.throws(() => BW.decodeFrame(frame({ kind: 'seed', chunks: 1, total: 80, dtype: 'ring64', shape: [4], nonce: '1' }, new Uint8Array(80))), { message: /seed of 80 bytes or its nonce is invalid/ });
  const huge = 2 ** 30 + 1;
  t.throws(() => BW.decodeFrame(frame({ kind: 'control', chunks: Math.ceil(huge / BW.CHUNK_BYTES), total: huge }, new Uint8Array(BW.CHUNK_BYTES))), { message: /over the page's limit/ });
  t.notThrows(() => BW.decodeFrame(frame({ kind: 'tensor', chunks: 1, total: 16, dtype: 'ring64', shape: [2] }, new Uint8Array(16))));
});

test("a session's partial messages are dropped when it ends; others' stay", (t) => {
  const r = new BW.Reassembler();
  const first = (session: string) => ({ v: BW.WIRE_VERSION, session, key: 'k', kind: 'control' as const, chunk: 0, chunks: 2, total: BW.CHUNK_BYTES + 1 });
  t.is(r.add(first('a'), new Uint8Array(BW.CHUNK_BYTES)), undefined);
  t.is(r.add(first('b'), new Uint8Array(BW.CHUNK_BYTES)), undefined);
  r.endSession('a');
  // a's message starts again cleanly (it would be "restarted before it completed" had it stayed); b's goes on.
  t.is(r.add(first('a'), new Uint8Array(BW.CHUNK_BYTES)), undefined);
  t.truthy(r.add({ ...first('b'), chunk: 1 }, new Uint8Array(1)));
});

test('the keys the browser client uses are those the Node client and servers use', async (t) => {
  const keys: string[] = [];
  class Capture extends Transport {
    protected async deliver(_f: PartyName, _t: PartyName, key: string): Promise<void> {
      keys.push(key);
    }
    protected receive(): Promise<Payload> {
      return Promise.reject(new Error('unused'));
    }
    async close(): Promise<void> {}
  }
  const tr = new Capture(['client', 'server0']);
  await tr.send('client', 'server0', tag(inputOp(0), 'input'), { kind: 'control', data: 0 });
  await tr.send('client', 'server0', tag(OUTPUT_OP, 'output'), { kind: 'control', data: 0 });
  t.deepEqual(keys, [BC.INPUT_KEY, BC.OUTPUT_KEY]);
  t.is(BC.REQUEST_KEY, REQUEST_KEY);
  t.is(BC.RESPONSE_KEY, RESPONSE_KEY);
  t.is(BC.ABORT_KEY, ABORT_KEY);
});
