// RequestPairing (lib/serve/pairing.ts): server1 and server2 run a client's request only when
// server0's notice for it has come too, in either order; a half left alone times out and is freed.
import test from 'ava';

import { type ClientHalf, type Halves, type Notice, RequestPairing } from '../lib/serve/pairing';

function recorder(timeoutMs = 10_000) {
  const seen: { paired: [string, ClientHalf, Notice][]; unused: [string, Halves][]; timedOut: [string, Halves][] } = { paired: [], unused: [], timedOut: [] };
  const p = new RequestPairing(timeoutMs, {
    paired: (s, c, n) => seen.paired.push([s, c, n]),
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
