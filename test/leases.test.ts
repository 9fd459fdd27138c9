// One server's lease book (lib/serve/leases.ts) on its own: a void frees the pooled side once, and
// only of a lease held; server1's and server2's books hold at most `max` leases, dropping the
// oldest of whoever holds the most (each freed as an expired one); the pooled leases are counted
// per model for the pool's budget (reservations.ts); a lease that leaves unused marks the session
// that asked for it; shutdown stops the expiry timers.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { type LeaseEntry, LeaseBook, UsedLeases } from '../lib/serve/leases';

const entry = (index: number, over: Partial<LeaseEntry> = {}): LeaseEntry => ({ epoch: 'e1', model: 'm', index, pooled: true, ...over });

test('a void frees a held lease once; an unknown or used one is left alone', (t) => {
  const freed: number[] = [];
  const book = new LeaseBook((e) => freed.push(e.index));
  const a = randomUUID(), b = randomUUID();
  book.add(a, entry(1), 60_000);
  book.add(b, entry(2), 60_000);
  t.truthy(book.take({ id: b, index: 2 }, 'm'));
  t.true(book.void(a));
  t.false(book.void(a), 'a second void');
  t.false(book.void(b), 'used already: its query has it');
  t.false(book.void(randomUUID()));
  t.deepEqual(freed, [1]);
  t.deepEqual([book.size, book.used, book.expired], [0, 1, 1]);
  book.clear();
});

test('a book of at most `max` drops its oldest leases first, freeing their pooled sides', (t) => {
  const freed: number[] = [];
  const book = new LeaseBook((e) => freed.push(e.index), 3);
  const ids = Array.from({ length: 5 }, () => randomUUID());
  ids.forEach((id, i) => book.add(id, entry(i + 1), 60_000));
  t.is(book.size, 3);
  t.deepEqual(freed, [1, 2]);
  t.deepEqual([book.has(ids[0]), book.has(ids[1]), book.has(ids[4])], [false, false, true]);
  t.deepEqual([book.evicted, book.expired], [2, 0]);
  // Control: without a bound all five stay.
  const unbounded = new LeaseBook(() => undefined);
  ids.forEach((id, i) => unbounded.add(id, entry(i + 1), 60_000));
  t.is(unbounded.size, 5);
  book.clear();
  unbounded.clear();
});

test('pooled leases are counted per model, of the setups named only', (t) => {
  const book = new LeaseBook(() => undefined);
  book.add(randomUUID(), entry(1), 60_000);
  book.add(randomUUID(), entry(2), 60_000);
  book.add(randomUUID(), entry(3, { model: 'n' }), 60_000);
  book.add(randomUUID(), entry(4, { pooled: false }), 60_000);
  book.add(randomUUID(), entry(5, { epoch: 'e0' }), 60_000);
  t.deepEqual([...book.pooledByModel('e1')].sort(), [['m', 2], ['n', 1]]);
  // With the setup a renewal replaced, whose leases keep their recordings until used or void.
  t.deepEqual([...book.pooledByModel('e1', 'e0')].sort(), [['m', 3], ['n', 1]]);
  t.deepEqual([...book.pooledByModel('e1', undefined)].sort(), [['m', 2], ['n', 1]]);
  book.clear();
});

test('a lease that leaves unused, dropped or expired, marks the session that asked for it (server1 then waits for no notice); a used one does not', async (t) => {
  const book = new LeaseBook(() => undefined);
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  book.add(a, entry(1, { session: 's-a', shape: [1, 4] }), 60_000);
  book.add(b, entry(2, { session: 's-b', shape: [1, 4] }), 60_000);
  book.add(c, entry(3, { model: 'gone', session: 's-c', shape: [1, 4] }), 60_000);
  t.false(book.goneFor('s-a'), 'held: its notice came, its decision is here');
  book.voidEpoch('e1');
  t.true(book.goneFor('s-a') && book.goneFor('s-b') && book.goneFor('s-c'), 'dropped');
  const d = randomUUID();
  book.add(d, entry(4, { session: 's-d', shape: [1, 4] }), 60_000);
  t.truthy(book.take({ id: d, index: 4 }, 'm'));
  t.false(book.goneFor('s-d'), 'taken: its query had ended before an honest client could use it');
  // Expired: a query that outlives its next lease's expiry must not wait for a notice.
  book.add(randomUUID(), entry(5, { session: 's-e', shape: [1, 4] }), 30);
  await new Promise((r) => setTimeout(r, 80));
  t.true(book.goneFor('s-e'), 'expired');
  t.false(book.goneFor('never'));
});

test('voidModel drops every lease on a model, and only those', (t) => {
  const freed: number[] = [];
  const book = new LeaseBook((e) => freed.push(e.index));
  book.add(randomUUID(), entry(1), 60_000);
  book.add(randomUUID(), entry(2, { model: 'n' }), 60_000);
  book.add(randomUUID(), entry(3, { epoch: 'e0' }), 60_000);
  book.voidModel('m');
  t.deepEqual(freed.sort(), [1, 3]);
  t.is(book.size, 1);
  book.clear();
});

test('used leases are named after the delay, in batches, oldest first, and nothing is sent early', async (t) => {
  const sent: { ids: string[]; at: number }[] = [];
  const t0 = Date.now();
  const used = new UsedLeases((ids) => sent.push({ ids, at: Date.now() - t0 }), 150, 2);
  const waitFor = async (n: number) => {
    const deadline = Date.now() + 5000;
    while (sent.flatMap((s) => s.ids).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  for (const id of ['a', 'b', 'c', 'd', 'e']) used.add(id);
  // Hold the event loop past the delay, so that all five are due when the timer runs.
  const busy = Date.now() + 200;
  while (Date.now() < busy);
  await waitFor(5);
  t.deepEqual(sent.map((s) => s.ids), [['a', 'b'], ['c', 'd'], ['e']], 'oldest first, two at a time');
  t.true(sent.every((s) => s.at >= 150), JSON.stringify(sent));
  // One added later waits its own delay: nothing after 50 ms, then sent.
  const added = Date.now() - t0;
  used.add('f');
  await new Promise((r) => setTimeout(r, 50));
  t.is(sent.length, 3, 'nothing before its delay');
  await waitFor(6);
  t.deepEqual(sent.at(-1)!.ids, ['f']);
  t.true(sent.at(-1)!.at - added >= 150, JSON.stringify(sent.at(-1)));
  used.add('g');
  used.clear();
  await new Promise((r) => setTimeout(r, 300));
  t.is(sent.flatMap((s) => s.ids).length, 6, 'cleared before it was due');
});
test("a book bounded per owner drops that owner's oldest leases, never another owner's", (t) => {
  const freed: number[] = [];
  const book = new LeaseBook((e) => freed.push(e.index), 100, 2);
  book.add(randomUUID(), entry(1), 60_000, 'honest');
  for (let i = 2; i <= 6; i++) book.add(randomUUID(), entry(i), 60_000, 'churner');
  book.add(randomUUID(), entry(7), 60_000, 'honest');
  t.deepEqual(freed, [2, 3, 4], "the churner's oldest, one at a time");
  t.deepEqual([book.countFor('honest'), book.countFor('churner'), book.evicted], [2, 2, 3]);
  book.clear();
});

test('a book full in all drops the oldest lease of whoever holds the most, so many churning clients push out their own before an honest one', (t) => {
  const freed: number[] = [];
  const book = new LeaseBook((e) => freed.push(e.index), 6, 3);
  book.add(randomUUID(), entry(1), 60_000, 'honest');
  // Three churning connections, each up to its own bound, announced after the honest lease.
  for (let i = 2; i <= 16; i++) book.add(randomUUID(), entry(i), 60_000, `churner${i % 3}`);
  t.is(book.size, 6);
  t.false(freed.includes(1), `the honest lease stays (freed ${freed})`);
  t.deepEqual([book.countFor('honest'), book.countFor('churner0'), book.countFor('churner1'), book.countFor('churner2')], [1, 2, 2, 1]);
  t.is(book.evicted, 10);
  // The rule is the count, not who: a client that holds the most loses its oldest first, and
  // among equals the oldest lease goes.
  const freed2: number[] = [];
  const even = new LeaseBook((e) => freed2.push(e.index), 3);
  even.add(randomUUID(), entry(1), 60_000, 'a');
  even.add(randomUUID(), entry(2), 60_000, 'a');
  even.add(randomUUID(), entry(3), 60_000, 'b');
  even.add(randomUUID(), entry(4), 60_000, 'c');
  t.deepEqual(freed2, [1], "a's oldest: a holds the most");
  even.add(randomUUID(), entry(5), 60_000, 'd');
  t.deepEqual(freed2, [1, 2], 'all equal: the oldest of all');
  even.add(randomUUID(), entry(6), 60_000, 'b');
  t.deepEqual(freed2, [1, 2, 3], "b's own: counting the one it adds, b holds the most");
  book.clear();
  even.clear();
});

test('a book remembers the ids it dropped or let expire (a request naming one is refused at once), not those used', async (t) => {
  const book = new LeaseBook(() => undefined);
  const [voided, expiring, used] = [randomUUID(), randomUUID(), randomUUID()];
  book.add(voided, entry(1), 60_000);
  book.add(expiring, entry(2), 20);
  book.add(used, entry(3), 60_000);
  book.void(voided);
  t.truthy(book.take({ id: used, index: 3 }, 'm'));
  await new Promise((r) => setTimeout(r, 60));
  t.deepEqual([book.wasDropped(voided), book.wasDropped(expiring), book.wasDropped(used), book.wasDropped(randomUUID())], [true, true, false, false]);
  book.clear();
});

test("a book's stopTimers (shutdown) stops every expiry timer, and frees nothing", async (t) => {
  const freed: number[] = [];
  const book = new LeaseBook((e) => freed.push(e.index));
  for (let i = 1; i <= 3; i++) book.add(randomUUID(), entry(i), 30);
  book.stopTimers();
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual([freed, book.size, book.expired], [[], 3, 0], 'no timer fired');
  // Control: left running, the same timers expire all three.
  const running = new LeaseBook((e) => freed.push(e.index));
  for (let i = 1; i <= 3; i++) running.add(randomUUID(), entry(i), 30);
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(freed.sort(), [1, 2, 3]);
});

test("one client's mismatched leases do not flush another's remembered drops (its next request would wait for a notice that never comes)", (t) => {
  const book = new LeaseBook(() => undefined);
  // An honest client's lease, asked for by its query in session s1, is voided (its query failed at server0).
  const honest = randomUUID();
  book.add(honest, entry(1, { session: 's1', shape: [1, 4] }), 60_000, 'client#1');
  t.true(book.void(honest));
  // A hostile client churns leases and names each with the wrong index: every one is dropped here.
  for (let i = 0; i < 6000; i++) {
    const id = randomUUID();
    book.add(id, entry(2 + i, { session: `h${i}`, shape: [1, 4] }), 60_000, 'client#2');
    t.throws(() => book.take({ id, index: 1 }, 'm'), { message: /does not match/ }, String(i));
  }
  t.true(book.wasDropped(honest), "the honest client's voided lease is still known as dropped");
  t.true(book.goneFor('s1'), "the honest client's session still waits for no notice");
  // The hostile client's own memory is bounded: its oldest went, its newest are there.
  t.false(book.wasDropped(randomUUID()));
  t.true(book.goneFor('h5999'));
  t.false(book.goneFor('h0'));
  book.clear();
});

test("server0's book counts leases by their owners' address group (maxAddressPercent), until used or voided", (t) => {
  const book = new LeaseBook(() => undefined);
  const a = book.grant(entry(1), 'client#1', 60_000, '198.51.100.1');
  book.grant(entry(2), 'client#2', 60_000, '198.51.100.1');
  book.grant(entry(3), 'client#3', 60_000, '2001:db8:0:1::/64');
  book.grant(entry(4), 'client#4', 60_000);
  t.deepEqual([book.countForGroup('198.51.100.1'), book.countForGroup('2001:db8:0:1::/64'), book.countForGroup('198.51.100.9')], [2, 1, 0]);
  t.truthy(book.take({ id: a, index: 1 }, 'm'));
  t.is(book.countForGroup('198.51.100.1'), 1, 'a used lease is not held');
  book.voidModel('m');
  t.is(book.countForGroup('198.51.100.1'), 0);
  book.clear();
});
