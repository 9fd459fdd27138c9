// Messages held in native memory on arrival (WsEndpointOptions.adopt, the servers'
// holdOnArrival): the mailbox frees one that is never read, whichever way its session ends, and
// hands over one that is read; the endpoint adopts servers' messages only, and keeps a message as
// it came when adopting fails; a held tensor reaches recvTensor intact.
import test from 'ava';

import { Mailbox } from '../lib/net/mailbox';
import type { HeldPayload, Payload } from '../lib/net/transport';
import { REQUEST_KEY, WsEndpoint } from '../lib/net/ws_endpoint';
import { RingTensor } from '../lib/ring';
import { holdOnArrival } from '../lib/serve/hold_on_arrival';

/** A held payload whose disposals are counted. */
function held(): HeldPayload & { disposed: () => number } {
  let n = 0;
  return { kind: 'held', dtype: 'ring64', shape: [1], tensor: { dispose: () => void n++ }, disposed: () => n };
}

test('a held message nobody reads is disposed when its session ends or aborts, when it comes late or twice, and when the mailbox closes', async (t) => {
  const mb = new Mailbox();
  const ended = held(), aborted = held(), late = held(), dup = held(), first = held(), closed = held();
  mb.deliver('server2', 's-end', 'k', ended, 8);
  mb.end('s-end');
  mb.deliver('server2', 's-abort', 'k', aborted, 8);
  mb.abort('s-abort', 'test');
  mb.deliver('server2', 's-end', 'k2', late, 8); // after the session ended
  mb.deliver('server2', 's-dup', 'k', first, 8);
  t.throws(() => mb.deliver('server2', 's-dup', 'k', dup, 8), { message: /duplicate message k/ });
  mb.deliver('server2', 's-close', 'k', closed, 8);
  mb.close(new Error('closing'));
  t.deepEqual([ended, aborted, late, dup, closed].map((h) => h.disposed()), [1, 1, 1, 1, 1]);
  t.is(first.disposed(), 1, 'the first of the duplicates went with the close');
  t.is(mb.totals().bytes, 0);
});

test('a held message that is read is handed over, not disposed', async (t) => {
  const mb = new Mailbox();
  const before = held(), after = held();
  mb.deliver('server2', 's', 'a', before, 8); // arrives before its recv()
  const waiting = mb.receive('server2', 's', 'b'); // recv() before it arrives
  mb.deliver('server2', 's', 'b', after, 8);
  t.is(await mb.receive('server2', 's', 'a'), before);
  t.is(await waiting, after);
  mb.end('s');
  t.deepEqual([before.disposed(), after.disposed()], [0, 0]);
});

test('holdOnArrival holds tensors in native memory, bit for bit, and leaves other messages as they came', (t) => {
  const values = BigUint64Array.from({ length: 1000 }, (_, i) => (BigInt(i) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn);
  const wire: Payload = { kind: 'tensor', dtype: 'ring64', shape: [10, 100], data: new Uint8Array(values.buffer) };
  for (const session of ['pool:abcd:7', '3f1e0c2a-0000-4000-8000-000000000000']) {
    const got = holdOnArrival(session, wire);
    if (got.kind !== 'held' || !(got.tensor instanceof RingTensor)) return t.fail(`kind ${got.kind}`);
    t.deepEqual(got.tensor.shape, [10, 100]);
    t.deepEqual(got.tensor.toBigUint64Array(), values);
    got.tensor.dispose();
  }
  const control: Payload = { kind: 'control', data: 1 };
  t.is(holdOnArrival('pool:abcd:7', control), control);
  const seed: Payload = { kind: 'seed', dtype: 'ring64', shape: [4], seed: new Uint8Array(16), nonce: 1n };
  t.is(holdOnArrival('epoch:abcd', seed), seed);
});

test('an endpoint adopts what servers send, not what clients send, and keeps a message it fails to adopt', async (t) => {
  const seen: string[] = [];
  const logs: string[] = [];
  const adopt = (session: string, p: Payload) => {
    seen.push(session);
    if (session === 'fails') throw new Error('no memory');
    return p.kind === 'tensor' ? { kind: 'held' as const, dtype: p.dtype, shape: p.shape, tensor: { dispose: () => undefined } } : p;
  };
  const s1 = new WsEndpoint({ me: 'server1', log: (m) => logs.push(m), adopt });
  const s0 = new WsEndpoint({ me: 'server0', log: () => undefined });
  const client = new WsEndpoint({ me: 'client', log: () => undefined });
  try {
    await s1.start(['server0']);
    await s0.start(['server1']);
    await s0.connect({ name: 'server1', host: '127.0.0.1', port: s1.port }, { timeoutMs: 2000 });
    const tensor: Payload = { kind: 'tensor', dtype: 'ring64', shape: [2], data: new Uint8Array(16) };
    await s0.send('server1', 'adopted', 'k', tensor);
    await s0.send('server1', 'fails', 'k', tensor);
    t.is((await s1.recv('server0', 'adopted', 'k')).kind, 'held');
    t.is((await s1.recv('server0', 'fails', 'k')).kind, 'tensor');
    t.true(logs.some((l) => /kept a message of fails as it came: no memory/.test(l)), logs.join('\n'));
    // A client's message (a request, then mail in its session) is never adopted.
    await client.connect({ name: 'server1', host: '127.0.0.1', port: s1.port }, { timeoutMs: 2000, asClient: true });
    const session = '3f1e0c2a-0000-4000-8000-000000000000';
    const asked = new Promise<string>((resolve) => s1.once('request', (peer) => resolve(peer)));
    await client.send('server1', session, REQUEST_KEY, { kind: 'control', data: {} });
    const peer = await asked;
    await client.send('server1', session, 'x', tensor);
    t.is((await s1.recv(peer, session, 'x')).kind, 'tensor');
    t.deepEqual(seen, ['adopted', 'fails']);
  } finally {
    await Promise.all([client.close(), s0.close(), s1.close()]);
  }
});
