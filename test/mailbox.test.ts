// What a stalled setup waits for (Mailbox.awaitedWithPrefix, epoch.ts describeAwaited): the
// messages whose recv() is still pending in a setup's sessions, by sender, so the timeout names
// the server or link that stalled it.
import test from 'ava';

import { Mailbox } from '../lib/net/mailbox';
import { describeAwaited } from '../lib/serve/epoch';

const control = (data: unknown) => ({ kind: 'control' as const, data });

test('awaitedWithPrefix lists the pending recv()s of the sessions under the prefix, and only those', async (t) => {
  const mb = new Mailbox();
  const seed = mb.receive('server1', 'epoch:e1', '1/seed/x/');
  const open = mb.receive('server1', 'epoch:e1:model:m', '16777217/mask/open/0');
  const deal = mb.receive('server2', 'epoch:e1:model:m', '16777218/matmul/triple/');
  void mb.receive('server1', 'epoch:e2', 'other-setup').catch(() => undefined);
  mb.deliver('server2', 'epoch:e1', 'arrived-first', control(1)); // held, not awaited
  t.deepEqual(
    mb.awaitedWithPrefix('epoch:e1').map((a) => `${a.peer} ${a.key} ${a.session}`).sort(),
    ['server1 1/seed/x/ epoch:e1', 'server1 16777217/mask/open/0 epoch:e1:model:m', 'server2 16777218/matmul/triple/ epoch:e1:model:m'],
  );
  mb.deliver('server1', 'epoch:e1', '1/seed/x/', control('s'));
  t.deepEqual(await seed, control('s'));
  t.deepEqual(mb.awaitedWithPrefix('epoch:e1').map((a) => a.key).sort(), ['16777217/mask/open/0', '16777218/matmul/triple/']);
  mb.abort('epoch:e1:model:m', 'setup timed out');
  await t.throwsAsync(open, { message: /setup timed out/ });
  await t.throwsAsync(deal, { message: /setup timed out/ });
  t.deepEqual(mb.awaitedWithPrefix('epoch:e1'), []);
  t.is(mb.awaitedWithPrefix('epoch:e2').length, 1);
});

test('describeAwaited names each awaited server with a count and its first message', (t) => {
  t.is(describeAwaited([]), 'no message awaited: its own sends or work were still pending');
  t.is(
    describeAwaited([
      { peer: 'server1', key: 'k1', session: 'epoch:e:model:m' },
      { peer: 'server2', key: 'k2', session: 'epoch:e' },
      { peer: 'server1', key: 'k3', session: 'epoch:e' },
    ]),
    'waiting for server1: 2 messages (first: k1 in epoch:e:model:m); server2: 1 message (first: k2 in epoch:e)',
  );
});

// A retired setup's pool sessions end by prefix (WsEndpoint.endSessionsWithPrefix), those not
// begun yet included: what server2 was still shipping for an index no query took arrives after
// the cleanup, in a session nothing will ever end, and was held for good.
test('endPrefix ends the sessions under the prefix that come later too: their arrivals are dropped, their recv()s fail', async (t) => {
  const mb = new Mailbox();
  mb.deliver('server2', 'pool:e1:7', 'k', control(1));
  const waiting = mb.receive('server2', 'pool:e1:8', 'k');
  t.deepEqual(mb.endPrefix('pool:e1:').sort(), ['pool:e1:7', 'pool:e1:8'], 'the sessions holding something, for the caller to end');
  for (const s of ['pool:e1:7', 'pool:e1:8']) mb.end(s);
  await t.throwsAsync(waiting, { message: /ended/ });
  // A straggler in a session of that prefix never seen before: dropped, not held.
  mb.deliver('server2', 'pool:e1:9', 'k', control(2));
  t.deepEqual(mb.totals(), { bytes: 0, messages: 0, waiting: 0 });
  t.true(mb.finished('pool:e1:123'));
  await t.throwsAsync(mb.receive('server2', 'pool:e1:10', 'k'), { message: /pool:e1:10 was ended/ });
  // Other setups' sessions are untouched (a prefix is not a substring match).
  mb.deliver('server2', 'pool:e2:9', 'k', control(3));
  mb.deliver('server2', 'x:pool:e1:9', 'k', control(4));
  t.is(mb.totals().messages, 2);
  t.false(mb.finished('pool:e2:9'));
  // Bounded: the oldest of many ended prefixes is forgotten (a few setups retire a day).
  for (let i = 0; i < 40; i++) mb.endPrefix(`pool:x${i}:`);
  t.false(mb.finished('pool:e1:9'));
  t.true(mb.finished('pool:x39:1'));
});
