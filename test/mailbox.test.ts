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
