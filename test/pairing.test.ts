// RequestPairing (lib/serve/pairing.ts): server1 and server2 run a client's request only when
// server0's notice for it has come too, in either order; a half left alone times out and is freed;
// a request that is not the one server0 admitted, or a second notice, never runs.
import test from 'ava';

import { requestKey } from '../lib/serve/messages';
import { type ClientHalf, type Halves, type Notice, RequestPairing } from '../lib/serve/pairing';

function recorder(timeoutMs = 10_000) {
  const seen: { paired: [string, ClientHalf, Notice][]; unused: [string, Halves][]; timedOut: [string, Halves][]; mismatched: [string, ClientHalf | undefined, Notice[]][] } = { paired: [], unused: [], timedOut: [], mismatched: [] };
  const p = new RequestPairing(timeoutMs, {
    paired: (s, c, n) => seen.paired.push([s, c, n]),
    mismatched: (s, c, n) => seen.mismatched.push([s, c, n]),
    unused: (s, h) => seen.unused.push([s, h]),
    timedOut: (s, h) => seen.timedOut.push([s, h]),
  });
  return { p, seen };
}

const client: ClientHalf = { peer: 'c1', req: { type: 'predict', model: 'm', shape: [1, 4] } };
const notice: Notice = { epoch: 'e1', index: 7, pooled: true };

test('the two halves meet in either order, once, and nothing is left waiting', (t) => {
  for (const order of [['client', 'notice'], ['notice', 'client']]) {
    const { p, seen } = recorder();
    for (const half of order) p.pair('s1', half === 'client' ? { client } : { notice });
    t.deepEqual(seen.paired, [['s1', client, notice]]);
    t.deepEqual(seen.unused, []);
    t.is(p.size, 0);
    t.is(p.get('s1'), undefined);
  }
});

test('one half waits: it is visible, and a drop as unused frees it (a drop of a session that is not waiting does nothing)', (t) => {
  const { p, seen } = recorder();
  p.pair('s1', { client });
  p.pair('s2', { notice });
  t.is(p.size, 2);
  t.deepEqual(p.get('s1')?.client, client);
  t.true(p.someClient((c) => c.req.type === 'predict' && c.req.model === 'm'));
  t.false(p.someClient((c) => c.req.type === 'deploy'));
  p.drop('s1', true);
  p.drop('s2', false);
  p.drop('nobody', true);
  t.deepEqual(seen.unused, [['s1', { client, notice: undefined }]]);
  t.deepEqual(seen.paired, []);
  t.is(p.size, 0);
  // Dropped halves never pair with a late other half's first arrival: it starts a fresh wait.
  p.pair('s1', { notice });
  t.deepEqual(seen.paired, []);
  t.is(p.size, 1);
  p.drop('s1', true);
});

test('a half alone times out: freed as unused first, then reported with what had come', async (t) => {
  const { p, seen } = recorder(30);
  p.pair('s1', { client });
  p.pair('s2', { notice });
  await new Promise((r) => setTimeout(r, 80));
  t.deepEqual(seen.unused.map(([s]) => s).sort(), ['s1', 's2']);
  t.deepEqual(seen.timedOut.sort(([a], [b]) => a.localeCompare(b)), [['s1', { client, notice: undefined }], ['s2', { client: undefined, notice }]]);
  t.is(p.size, 0);
  // A pair that met before the timeout is not reported later.
  const other = recorder(30);
  other.p.pair('s3', { client });
  other.p.pair('s3', { notice });
  await new Promise((r) => setTimeout(r, 80));
  t.deepEqual(other.seen.timedOut, []);
  t.is(other.seen.paired.length, 1);
});

test("a leased request waiting for the lease's notice is found once by its lease id, and forgotten when it is dropped", (t) => {
  const { p } = recorder();
  const leased: ClientHalf = { peer: 'c1', req: { type: 'predict', model: 'm', shape: [1, 4], lease: { id: 'L1', index: 3 } } };
  p.pair('s1', { client: leased });
  p.awaitLease('L1', 's1');
  t.is(p.takeLeaseWaiter('L1'), 's1');
  t.is(p.takeLeaseWaiter('L1'), undefined);
  p.awaitLease('L1', 's1');
  p.drop('s1', true);
  t.is(p.takeLeaseWaiter('L1'), undefined, 'the drop forgot the waiter');
});

test("a request other than the one server0 admitted, or a second index for it, never runs: every index is handed back", (t) => {
  const admitted: Notice = { ...notice, request: requestKey(client.req) };
  // The same request: it runs (a notice without a key, a lease's, is not compared).
  for (const n of [admitted, notice]) {
    const { p, seen } = recorder();
    p.pair('s1', { client });
    p.pair('s1', { notice: n });
    t.is(seen.paired.length, 1);
    t.deepEqual(seen.mismatched, []);
  }
  // Another batch, model, or lease flag than server0 admitted, in either order.
  const others: ClientHalf[] = [
    { peer: 'c1', req: { type: 'predict', model: 'm', shape: [1024, 4] } },
    { peer: 'c1', req: { type: 'predict', model: 'other', shape: [1, 4] } },
    { peer: 'c1', req: { type: 'predict', model: 'm', shape: [1, 4], leaseNext: true } },
    // A leased copy beside server0's plain request (its lease's notice not come yet).
    { peer: 'c1', req: { type: 'predict', model: 'm', shape: [1, 4], lease: { id: 'L1', index: 3 } } },
  ];
  for (const other of others)
    for (const order of [['client', 'notice'], ['notice', 'client']]) {
      const { p, seen } = recorder();
      for (const half of order) p.pair('s1', half === 'client' ? { client: other } : { notice: admitted });
      t.deepEqual(seen.paired, [], JSON.stringify(other.req));
      t.deepEqual(seen.mismatched, [['s1', other, [admitted]]]);
      t.is(p.size, 0);
    }
  // A lease's index beside server0's notice (a client that sent server0 no lease): both go back.
  const leased: Notice = { epoch: 'e1', index: 9, pooled: true };
  for (const order of [['notice', 'lease'], ['lease', 'notice']]) {
    const { p, seen } = recorder();
    for (const half of order) p.pair('s1', half === 'notice' ? { notice: admitted } : { client, notice: leased });
    t.deepEqual(seen.paired, order[0] === 'lease' ? [['s1', client, leased]] : [], 'a lease alone runs at once');
    if (order[0] === 'notice') t.deepEqual(seen.mismatched, [['s1', client, [admitted, leased]]]);
    t.is(p.size, order[0] === 'lease' ? 1 : 0);
    p.drop('s1', true);
  }
});

test("the pairing says when the first half came (the query's timeout counts from it), whichever it was", async (t) => {
  for (const first of ['client', 'notice'] as const) {
    const since: number[] = [];
    const p = new RequestPairing(10_000, { paired: (_s, _c, _n, at) => since.push(at), mismatched: () => undefined, unused: () => undefined, timedOut: () => undefined });
    const t0 = Date.now();
    p.pair('s1', first === 'client' ? { client } : { notice });
    await new Promise((r) => setTimeout(r, 200));
    p.pair('s1', first === 'client' ? { notice } : { client });
    t.is(since.length, 1);
    t.true(since[0] >= t0 && since[0] - t0 < 100, `${first} first: since ${since[0] - t0} ms after it came, paired ${Date.now() - t0} ms after`);
  }
});
