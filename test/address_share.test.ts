// The clients of one address share at most maxAddressPercent of each server-wide bound: anonymous
// clients are counted per connection and one host may open many, so without it one address could
// hold every request place (maxSessions), every place waiting for a go-ahead (maxPendingRequests)
// and all query memory (maxTotalQueryBytes), each for inputTimeoutMs, and turn everyone else away.
// An IPv6 host counts by its /64, the block it is given, not by each of its 2^64 addresses.
import test from 'ava';

import { addressGroup } from '../lib/net/handshake';
import { DEFAULT_LIMITS, type ServiceLimits, SessionAccounting } from '../lib/serve/limits';

const MiB = 2 ** 20;
const limits = (o: Partial<ServiceLimits> = {}): ServiceLimits => ({ ...DEFAULT_LIMITS, maxSessions: 8, maxSessionsPerClient: 2, maxPendingRequests: 4, maxQueryBytes: 100 * MiB, maxTotalQueryBytes: 400 * MiB, ...o });

/** Admits `n` requests from distinct connections of `group`; how many were admitted before the first refusal, and its text. */
function fill(acc: SessionAccounting, group: string, n: number, o: { bytes?: number; pending?: boolean } = {}): { admitted: number; refusal?: string; sessions: string[] } {
  const sessions: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = `${group}-${i}-${Math.random()}`;
    try {
      acc.admit(s, `client#${group}-${i}`, o.bytes ?? 0, o.pending ?? false, group);
    } catch (e) {
      return { admitted: i, refusal: (e as Error).message, sessions };
    }
    sessions.push(s);
  }
  return { admitted: n, sessions };
}

test('IPv4 addresses count alone; IPv6 by their /64; IPv4 in IPv6 (mapped, NAT64) alone', (t) => {
  t.is(addressGroup('203.0.113.7'), '203.0.113.7');
  t.is(addressGroup('::ffff:203.0.113.7'), '203.0.113.7');
  const g = addressGroup('2001:db8:0:1::5');
  t.is(g, '2001:db8:0:1::/64');
  for (const a of ['2001:db8:0:1:ffff:ffff:ffff:ffff', '2001:0db8:0000:0001::abcd', '2001:db8::1:0:0:0:9', '2001:db8:0:1::5%eth0']) t.is(addressGroup(a), g, a);
  t.not(addressGroup('2001:db8:0:2::5'), g);
  t.is(addressGroup('::1'), '0:0:0:0::/64');
  t.is(addressGroup('64:ff9b::198.51.100.1'), '64:ff9b::198.51.100.1');
  // As a socket gives them (Node prints no dotted form there): NAT64's prefixes, link-local and
  // Teredo addresses count alone, their /64 being shared by unrelated clients.
  t.is(addressGroup('64:ff9b::c633:6401'), '64:ff9b:0:0:0:0:c633:6401');
  t.not(addressGroup('64:ff9b::c633:6401'), addressGroup('64:ff9b::c633:6402'));
  t.not(addressGroup('64:ff9b:1::c633:6401'), addressGroup('64:ff9b:1::c633:6402'));
  t.not(addressGroup('fe80::1%eth0'), addressGroup('fe80::2%eth0'));
  t.not(addressGroup('2001:0:4136:e378:8000:63bf:3fff:fdd2'), addressGroup('2001:0:4136:e378:8000:63bf:3fff:fdd3'));
  t.is(addressGroup('64:ff9b:2::1'), '64:ff9b:2:0::/64', 'outside the translators\' prefixes: a /64');
  t.is(addressGroup(undefined), '');
  t.is(addressGroup('not:an::address:zz'), 'not:an::address:zz', 'what does not parse counts alone');
});

test("one address's clients hold at most their share of requests; another address is still admitted", (t) => {
  const acc = new SessionAccounting(limits());
  const a = fill(acc, '198.51.100.1', 8);
  t.is(a.admitted, 4, 'half of maxSessions = 8');
  t.regex(a.refusal!, /^the clients of this address already have as many requests in flight as one address may \(maxAddressPercent = 50% of maxSessions\); wait for one to finish$/);
  t.is(fill(acc, '198.51.100.2', 4).admitted, 4, 'another address gets the other half');
  t.regex(fill(acc, '198.51.100.3', 1).refusal!, /maxSessions = 8/, 'and then the server is full');
  // Control: with the share at 100% the first address takes every place and the second none.
  const all = new SessionAccounting(limits({ maxAddressPercent: 100 }));
  t.is(fill(all, '198.51.100.1', 9).admitted, 8);
  t.is(fill(all, '198.51.100.2', 1).admitted, 0);
});

test('the share is never below one connection\'s own bound, and IPv6 neighbours share one', (t) => {
  const acc = new SessionAccounting(limits({ maxAddressPercent: 1 }));
  t.is(fill(acc, addressGroup('2001:db8:0:1::1'), 4).admitted, 2, 'maxSessionsPerClient = 2 at least');
  t.regex(fill(acc, addressGroup('2001:db8:0:1::2'), 1).refusal!, /maxAddressPercent = 1% of maxSessions/);
  t.is(fill(acc, addressGroup('2001:db8:0:2::1'), 1).admitted, 1);
});

test("one address's query memory is bounded apart; released, its places are its own again", (t) => {
  const mem = new SessionAccounting(limits());
  const m = fill(mem, '198.51.100.1', 4, { bytes: 90 * MiB });
  t.is(m.admitted, 2, '200 MiB of 400');
  t.regex(m.refusal!, /as much memory as one address may \(maxAddressPercent = 50% of maxTotalQueryBytes\): this one needs about 90 MiB; retry later$/);
  t.is(fill(mem, '198.51.100.2', 2, { bytes: 90 * MiB }).admitted, 2);
  // What the others of an address hold is not in the client's text (only the log's detail).
  t.notRegex(m.refusal!, /180|198\.51/);
  for (const s of m.sessions) mem.release(s);
  t.is(fill(mem, '198.51.100.1', 2, { bytes: 90 * MiB }).admitted, 2);
});

// Places waiting for a go-ahead (maxPendingRequests) are shared by pushing out instead: an honest
// burst from one address (a backend's many connections) may use them all, and another address
// that needs one takes the oldest place of the address holding the most, until they hold as many.
test('waiting places: one address may take them all; another address then pushes out its oldest, down to an even share', (t) => {
  const acc = new SessionAccounting(limits({ maxSessions: 100, maxSessionsPerClient: 100, maxPendingRequests: 6 }));
  const a = fill(acc, '198.51.100.1', 6, { pending: true });
  t.is(a.admitted, 6, 'all six places to the only address that wants them');
  const pushed = [0, 1, 2].map((i) => acc.admit(`b${i}`, `client#b${i}`, 0, true, '198.51.100.2'));
  t.deepEqual(pushed, a.sessions.slice(0, 3), 'the oldest of the address holding the most, one per newcomer');
  t.is(acc.counters().pending, 6);
  const e = t.throws(() => acc.admit('b3', 'client#b3', 0, true, '198.51.100.2'));
  t.regex(e!.message, /as many requests as it takes are waiting to start \(maxPendingRequests = 6\)/, 'at 3 and 3 nobody is pushed out: a fourth of the second address is refused');
  // A third address takes from whichever holds the most (3 and 3: the first), then from the other
  // (2 and 3), and at 2, 2 and 2 it is refused.
  t.is(acc.admit('c0', 'client#c0', 0, true, '198.51.100.3'), a.sessions[3]);
  t.is(acc.admit('c1', 'client#c1', 0, true, '198.51.100.3'), 'b0');
  t.throws(() => acc.admit('c2', 'client#c2', 0, true, '198.51.100.3'), { message: /maxPendingRequests = 6/ });
  t.deepEqual(acc.counters().pending, 6);
  // Control: without address groups nothing is pushed out and the newcomer is refused.
  const anon = new SessionAccounting(limits({ maxPendingRequests: 2 }));
  anon.admit('x0', 'client#x0', 0, true);
  anon.admit('x1', 'client#x1', 0, true);
  t.throws(() => anon.admit('y0', 'client#y0', 0, true));
});

// Two addresses can hold every request place between them (a dual-stack host has two): one with
// started requests, the other with requests that never reach server0. A third address is then
// refused by maxSessions (or by the memory in use), not by the waiting places: it takes the oldest
// waiting request's place all the same, the bound counted without it.
test('with maxSessions or the memory reached, a third address pushes out a waiting request too', (t) => {
  const acc = new SessionAccounting(limits({ maxSessions: 8, maxSessionsPerClient: 4, maxPendingRequests: 8 }));
  t.is(fill(acc, '198.51.100.1', 4).admitted, 4, 'started');
  const waiting = fill(acc, '198.51.100.2', 4, { pending: true });
  t.is(waiting.admitted, 4);
  t.is(acc.admit('c0', 'client#c0', 0, false, '198.51.100.3'), waiting.sessions[0]);
  t.is(acc.counters().sessions, 8);
  t.is(acc.counters().refused, 1, 'the pushed-out request counts as refused');
  // The started ones are never pushed out: with no waiting request left to take, the bound refuses.
  const started = new SessionAccounting(limits({ maxSessions: 8, maxSessionsPerClient: 4 }));
  fill(started, '198.51.100.1', 4);
  fill(started, '198.51.100.2', 4);
  t.throws(() => started.admit('c0', 'client#c0', 0, false, '198.51.100.3'), { message: /maxSessions = 8/ });
  // Memory: the waiting requests hold 300 of 400 MiB; a query of 150 fits once one of 100 is gone.
  const mem = new SessionAccounting(limits({ maxQueryBytes: 200 * MiB, maxTotalQueryBytes: 400 * MiB, maxAddressPercent: 100 }));
  const w = fill(mem, '198.51.100.2', 3, { bytes: 100 * MiB, pending: true });
  t.is(mem.admit('m0', 'client#m0', 150 * MiB, false, '198.51.100.3'), w.sessions[0]);
  t.is(mem.admit('m1', 'client#m1', 150 * MiB, false, '198.51.100.3'), w.sessions[1], 'two waiting against none: one more goes');
  t.throws(() => mem.admit('m2', 'client#m2', 150 * MiB, false, '198.51.100.3'), { message: /maxTotalQueryBytes/ }, 'one waiting against none: it stays');
});
