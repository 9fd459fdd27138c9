// The WebSocket transport: the same protocol code over real loopback WebSockets, chunking,
// session isolation, and refusal of malformed frames and unknown peers without crashing.
import test from 'ava';
import WebSocket from 'ws';

import * as tfe from '../lib';
import { COMPUTE_VERSION } from '../lib/compute_version';
import { Connection, JOIN_BODY_BYTES } from '../lib/net/connection';
import { CHUNK_BYTES, decodeFrame, encodeFrames } from '../lib/net/wire';

const PARTIES = ['server0', 'server1', 'server2', ...tfe.DEFAULT_PLAYERS];

test('Pond and SecureNN over WebSockets give the same results as plaintext', async (t) => {
  for (const protocol of ['pond', 'securenn'] as const) {
    const transport = await tfe.WebSocketTransport.loopback(PARTIES, { log: () => undefined });
    const c = new tfe.Cluster({ transport, protocol });
    const a = Float64Array.from({ length: 48 }, () => Math.random() * 2 - 1);
    const w = Float64Array.from({ length: 48 * 5 }, () => Math.random() - 0.5);
    const x = tfe.definePrivateInput('prediction-client', () => ({ data: a, shape: [1, 48] }), c);
    const wt = tfe.definePrivateInput('model-owner', () => ({ data: w, shape: [48, 5] }), c);
    const out = await tfe.defineOutput('prediction-client', tfe.relu(tfe.matmul(x, wt)));
    for (let j = 0; j < 5; j++) {
      let z = 0;
      for (let k = 0; k < 48; k++) z += a[k] * w[k * 5 + j];
      const want = protocol === 'securenn' ? Math.max(z, 0) : tfe.evalPolynomial(tfe.reluPolynomial(4), z);
      t.true(Math.abs(out.data[j] - want) < 1e-3, `${protocol} ${j}: ${out.data[j]} vs ${want}`);
    }
    t.true(c.transport.traffic().total.bytes > 0);
    await c.close();
  }
});

test('large tensors are chunked and arrive intact; sessions on the same connections never mix', async (t) => {
  const eps = new Map(['a', 'b'].map((p) => [p, new tfe.WsEndpoint({ me: p, log: () => undefined })]));
  await Promise.all([eps.get('a')!.start(['b']), eps.get('b')!.start(['a'])]);
  await eps.get('a')!.connect({ name: 'b', host: '127.0.0.1', port: eps.get('b')!.port });
  const big = new Uint8Array(3 * CHUNK_BYTES + 12345);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
  const s1 = new tfe.WebSocketTransport(['a', 'b'], eps, 'session-1');
  const s2 = new tfe.WebSocketTransport(['a', 'b'], eps, 'session-2');
  const tag = { opId: 1, op: 'x', step: 's' };
  const small = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  await Promise.all([
    s1.send('a', 'b', tag, { kind: 'tensor', dtype: 'bit', shape: [big.length], data: big.map((v) => v & 1) }),
    s2.send('a', 'b', tag, { kind: 'tensor', dtype: 'ring64', shape: [1], data: small }),
  ]);
  const [r2, r1] = await Promise.all([s2.recv('b', 'a', tag), s1.recv('b', 'a', tag)]);
  t.is(r1.kind, 'tensor');
  // Compare as buffers: a structural diff of megabytes would take ava seconds.
  t.true(r1.kind === 'tensor' && Buffer.from(r1.data).equals(Buffer.from(big.map((v) => v & 1))));
  t.deepEqual(r2.kind === 'tensor' ? [...r2.data] : null, [...small]);
  t.is(s1.traffic().total.bytes, big.length);
  await s1.close();
});

test('malformed frames, oversize messages and unknown peers are refused; the endpoint keeps serving', async (t) => {
  const logs: string[] = [];
  const eps = new Map(['a', 'b'].map((p) => [p, new tfe.WsEndpoint({ me: p, maxMessageBytes: 1 << 20, log: (m) => logs.push(m) })]));
  await Promise.all([eps.get('a')!.start(['b']), eps.get('b')!.start(['a'])]);
  const port = eps.get('b')!.port;
  const dial = (party: string) =>
    new Promise<{ code: number; reason: string } | 'refused'>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { 'x-tfe-party': party, 'x-tfe-compute': String(COMPUTE_VERSION) } });
      ws.on('unexpected-response', () => resolve('refused'));
      ws.on('error', () => resolve('refused'));
      ws.on('open', () => {
        ws.send(Buffer.from([1, 2, 3, 4, 5]), { binary: true });
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      });
    });
  t.is(await dial('mallory'), 'refused');
  t.true(logs.some((l) => l.includes("unknown party 'mallory'")));
  const bad = await dial('a');
  t.true(typeof bad === 'object' && bad.code === 1008 && /header length|too short/.test(bad.reason), JSON.stringify(bad));
  // An oversize message announced by a (re)connected peer closes that connection with a reason.
  await eps.get('a')!.connect({ name: 'b', host: '127.0.0.1', port });
  const tr = new tfe.WebSocketTransport(['a', 'b'], eps);
  const huge = new Uint8Array((1 << 20) + 8);
  const tag = { opId: 1, op: 'x', step: 's' };
  const dropped = new Promise((r) => eps.get('a')!.once('peer-down', r));
  await tr.send('a', 'b', tag, { kind: 'tensor', dtype: 'bit', shape: [huge.length], data: huge });
  await dropped; // b closed that connection (a sees it close)
  t.true(logs.some((l) => l.includes('exceeds the limit')), logs.join('\n'));
  // Still serving: a re-dials by itself, and the new connection delivers a normal message.
  await eps.get('a')!.connect({ name: 'b', host: '127.0.0.1', port });
  const ok = new Uint8Array(16).fill(7);
  await tr.send('a', 'b', { ...tag, opId: 2 }, { kind: 'tensor', dtype: 'ring64', shape: [2], data: ok });
  const got = await tr.recv('b', 'a', { ...tag, opId: 2 });
  t.deepEqual(got.kind === 'tensor' ? [...got.data] : null, [...ok]);
  t.is(encodeFrames('s', 'k', { kind: 'control', data: { hello: 1 } }).length, 1);
  await tr.close();
});

test('a frame decodes the same from one buffer, from its [prefix, body] fragments (no copy) and from any other split', (t) => {
  const data = Uint8Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256));
  const [[prefix, body]] = encodeFrames('s', 'k', { kind: 'tensor', dtype: 'ring64', shape: [512], data });
  const joined = Buffer.concat([prefix, body]);
  const bodyBuf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const whole = decodeFrame(joined);
  const frags = decodeFrame([prefix, bodyBuf]);
  t.deepEqual(frags.header, whole.header);
  t.deepEqual([...frags.body], [...data]);
  t.is(frags.body.buffer, bodyBuf.buffer, 'the body fragment is used as it is');
  // A browser sends one piece; a peer may split anywhere: both are joined and checked as usual.
  t.deepEqual([...decodeFrame([joined]).body], [...data]);
  const cut = prefix.byteLength - 3;
  t.deepEqual([...decodeFrame([joined.subarray(0, cut), joined.subarray(cut, cut + 100), joined.subarray(cut + 100)]).body], [...data]);
  // Fragments are checked like a buffer: a short body, a lying header length, an empty message.
  t.throws(() => decodeFrame([prefix, bodyBuf.subarray(8)]), { message: /carries 4088 bytes, not the 4096/ });
  const liar = Buffer.from(prefix);
  liar.writeUInt32LE(5000, 0);
  t.throws(() => decodeFrame([liar, bodyBuf]), { message: /header length 5000 is invalid/ });
  t.throws(() => decodeFrame([]), { message: /too short/ });
});

test("a link whose re-dial is backing off is dialed at once when hurried (a client's query wants it), even mid-attempt; left alone it waits out the back-off", async (t) => {
  // A plain TCP server on the port counts each dial and drops it, until the real endpoint takes
  // the port right after one: the re-dial loop's next try is then about a second away.
  // 'sleeping': hurried once the sixth attempt has been dropped (the loop is in or near its sleep);
  // 'in-flight': hurried while the sixth attempt is still open, before the dialer sees it fail
  // (the hurry must not be lost); 'alone': never hurried.
  const net = await import('node:net');
  const run = async (mode: 'sleeping' | 'in-flight' | 'alone'): Promise<number> => {
    const attempts: number[] = [];
    let sixth: (s: import('node:net').Socket) => void = (s) => s.destroy();
    const raw = net.createServer((s) => (attempts.push(Date.now()), attempts.length === 6 ? sixth(s) : s.destroy()));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as { port: number }).port;
    const a = new tfe.WsEndpoint({ me: 'a', log: () => undefined });
    await a.start([]);
    let b: InstanceType<typeof tfe.WsEndpoint> | undefined;
    const takePort = async () => {
      // close() stops listening at once; its callback waits for open sockets (the held sixth).
      const closed = new Promise<void>((r) => raw.close(() => r()));
      // The listening socket itself is closed on the loop's next turns: give it those.
      if (mode !== 'in-flight') await closed;
      else await new Promise((r) => setTimeout(r, 20));
      b = new tfe.WsEndpoint({ me: 'b', port, log: () => undefined });
      await b.start(['a']);
    };
    let t0 = 0;
    const inFlight = new Promise<void>((resolve) => {
      if (mode === 'in-flight')
        sixth = (s) => {
          void takePort().then(() => {
            t0 = Date.now();
            a.hurry('b');
            s.destroy();
            resolve();
          });
        };
    });
    // Back-offs of 50, 100, 200, 400 and 800 ms: after the sixth try the loop sleeps a second.
    const linked = a.connect({ name: 'b', host: '127.0.0.1', port }, { timeoutMs: 30_000 });
    if (mode === 'in-flight') await inFlight;
    else {
      while (attempts.length < 6) await new Promise((r) => setTimeout(r, 10));
      await takePort();
      t0 = Date.now();
      if (mode === 'sleeping') a.hurry('b');
    }
    await linked;
    const ms = Date.now() - t0;
    await Promise.all([a.close('done'), b!.close('done')]);
    return ms;
  };
  const sleeping = await run('sleeping');
  const inFlight = await run('in-flight');
  const alone = await run('alone');
  t.log({ sleeping, inFlight, alone });
  t.true(sleeping < 400, `hurried: linked after ${sleeping} ms`);
  t.true(inFlight < 400, `hurried mid-attempt: linked after ${inFlight} ms`);
  t.true(alone > 500, `left alone: linked after ${alone} ms (the back-off)`);
});

test('a connection sends a small message as one frame (one socket write) and a large body as its own fragment, uncopied', async (t) => {
  const sends: { data: Buffer; fin: boolean }[] = [];
  const fake = {
    bufferedAmount: 0,
    send(data: Buffer, opts: { fin: boolean }, cb?: (err?: Error) => void) {
      sends.push({ data, fin: opts.fin });
      cb?.();
    },
  };
  const conn = new Connection('server1', fake as unknown as WebSocket, false);
  const small = Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff);
  await conn.send(encodeFrames('s', 'k', { kind: 'tensor', dtype: 'ring64', shape: [128], data: small }), () => undefined);
  t.is(sends.length, 1);
  t.true(sends[0].fin);
  const one = decodeFrame([sends[0].data]);
  t.deepEqual([...one.body], [...small]);
  t.is(one.header.key, 'k');
  sends.length = 0;
  const large = new Uint8Array(JOIN_BODY_BYTES + 8).fill(9);
  await conn.send(encodeFrames('s', 'k', { kind: 'tensor', dtype: 'ring64', shape: [(JOIN_BODY_BYTES + 8) / 8], data: large }), () => undefined);
  t.deepEqual(sends.map((s) => s.fin), [false, true]);
  t.is(sends[1].data.buffer, large.buffer, 'the large body is sent as it is');
  t.deepEqual([...decodeFrame([sends[0].data, sends[1].data]).body.subarray(0, 4)], [9, 9, 9, 9]);
});

test('a send waiting for a dropped link to come back ends with its session: rejected with the abort reason, resolved when done; after the end it does not wait', async (t) => {
  const a = new tfe.WsEndpoint({ me: 'a', log: () => undefined });
  await a.start([]);
  const b = new tfe.WsEndpoint({ me: 'b', log: () => undefined });
  await b.start(['a']);
  await a.connect({ name: 'b', host: '127.0.0.1', port: b.port }, { timeoutMs: 5000 });
  await b.close('gone for good');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; a.connected('b') && i < 100; i++) await sleep(20);
  t.false(a.connected('b'));
  const outcome = (p: Promise<void>) => p.then(() => 'resolved', (e: Error) => e.message);
  const waiting = (p: Promise<string>) => Promise.race([p, sleep(300).then(() => 'waiting')]);
  // The link would be waited for up to 10 s (RECONNECT_WAIT_MS).
  const t0 = Date.now();
  const aborted = outcome(a.send('b', 's1', 'k', { kind: 'control', data: 1 }));
  t.is(await waiting(aborted), 'waiting', 'the send waits for the link');
  a.abortSession('s1', 'timed out after 1000 ms');
  t.is(await aborted, 'timed out after 1000 ms');
  const done = outcome(a.send('b', 's2', 'k', { kind: 'control', data: 2 }));
  t.is(await waiting(done), 'waiting');
  a.endSession('s2');
  t.is(await done, 'resolved');
  t.is(await waiting(outcome(a.send('b', 's2', 'k', { kind: 'control', data: 3 }))), 'resolved', 'a send after its session ended does not wait for the link');
  t.true(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  await a.close('done');
});

test("a protocol message in a session aborted here fails at once with the reason (the sender's work stops), while the server's own messages and a finished session's stragglers still go", async (t) => {
  const a = new tfe.WsEndpoint({ me: 'a', log: () => undefined });
  await a.start([]);
  const b = new tfe.WsEndpoint({ me: 'b', log: () => undefined });
  await b.start(['a']);
  await a.connect({ name: 'b', host: '127.0.0.1', port: b.port }, { timeoutMs: 5000 });
  const transport = new tfe.WebSocketTransport(['a', 'b'], new Map([['a', a]]), 's1');
  const msg = (op: string) => ({ op, opId: 1, step: 'x' });
  try {
    await transport.send('a', 'b', msg('before'), { kind: 'control', data: 1 });
    t.is((await b.recv('a', 's1', '1/before/x/')).kind, 'control', 'a running session sends');
    a.abortSession('s1', 'the client disconnected');
    await t.throwsAsync(transport.send('a', 'b', msg('after'), { kind: 'control', data: 2 }), { message: 'session s1 was aborted: the client disconnected' });
    // The server's own message in the aborted session (an answer to its client, say) still goes.
    await a.send('b', 's1', 'answer', { kind: 'control', data: 3 });
    const s1Answer = b.recv('a', 's1', 'answer');
    t.is(((await s1Answer) as { data: unknown }).data, 3);
    // A session that ended normally is not aborted: work that outlives it still sends (the peer drops it).
    const ended = new tfe.WebSocketTransport(['a', 'b'], new Map([['a', a]]), 's2');
    a.endSession('s2');
    await t.notThrowsAsync(ended.send('a', 'b', msg('late'), { kind: 'control', data: 4 }));
  } finally {
    await a.close('done');
    await b.close('done');
  }
});
