// SendWaits (lib/net/send_waits.ts): a send waiting for a socket that never drains ends with its
// session. The service-level check is test/ops_metrics.test.ts (server1 stopped mid-query).
import test from 'ava';

import { SendWaits } from '../lib/net/send_waits';

const never = () => new Promise<void>(() => undefined);
const settled = async (p: Promise<void>) => Promise.race([p.then(() => 'resolved', (e: Error) => `rejected: ${e.message}`), new Promise((r) => setTimeout(() => r('pending'), 50))]);

test('a wait on a socket that never drains ends with its session: rejected when aborted, resolved when done; other sessions keep waiting', async (t) => {
  const w = new SendWaits();
  const [a1, a2, b] = [w.wait('a', never()), w.wait('a', never()), w.wait('b', never())];
  t.is(await settled(a1), 'pending');
  w.end('a', 'timed out after 1000 ms');
  t.is(await settled(a1), 'rejected: timed out after 1000 ms');
  t.is(await settled(a2), 'rejected: timed out after 1000 ms');
  t.is(await settled(b), 'pending', 'another session is not touched');
  w.end('b');
  t.is(await settled(b), 'resolved');
  t.is(w.size, 0);
});

test('a written send resolves (or fails) as written and leaves nothing behind; a send after its session ended waits on its own', async (t) => {
  const w = new SendWaits();
  t.is(await settled(w.wait('a', Promise.resolve())), 'resolved');
  t.is(await settled(w.wait('a', Promise.reject(new Error('socket closed')))), 'rejected: socket closed');
  t.is(w.size, 0);
  w.end('a', 'aborted');
  // As abortSession's notice to the peers, sent after the session ended here.
  const late = w.wait('a', never());
  t.is(await settled(late), 'pending');
  t.is(w.size, 1);
  // A send whose session ended first and whose socket then fails: no unhandled rejection.
  let fail!: (e: Error) => void;
  const written = new Promise<void>((_, reject) => (fail = reject));
  const p = w.wait('c', written);
  w.end('c');
  t.is(await settled(p), 'resolved');
  fail(new Error('late failure'));
  await new Promise((r) => setTimeout(r, 10));
  w.end('a');
  t.is(await settled(late), 'resolved');
  t.is(w.size, 0);
});
