// SessionAccounting keeps running totals (per client, per address group, waiting per group) so
// that admitting a request does not walk every held one. This drives it with random admissions,
// starts and releases under random limits and checks every outcome against a reference that
// recounts everything from the list of held requests each time: the same refusals, the same
// pushed-out requests, the same counters.
import test from 'ava';

import { addressShare, DEFAULT_LIMITS, type ServiceLimits, SessionAccounting } from '../lib/serve/limits';

interface Held { session: string; client: string; group?: string; bytes: number; waiting: boolean }

/** The rules, recounted from scratch (docs/service.md): returns the pushed-out session, or throws the limit's name. */
function referenceAdmit(held: Held[], l: ServiceLimits, r: Omit<Held, 'waiting'> & { pending: boolean }): string | undefined {
  if (held.filter((h) => h.client === r.client).length >= l.maxSessionsPerClient) throw new Error('maxSessionsPerClient');
  const over = (victim?: Held): string | undefined => {
    const rest = held.filter((h) => h !== victim);
    if (rest.length >= l.maxSessions) return 'maxSessions';
    if (r.pending && rest.filter((h) => h.waiting).length >= l.maxPendingRequests) return 'maxPendingRequests';
    if (r.bytes > 0 && rest.reduce((a, h) => a + h.bytes, 0) + r.bytes > l.maxTotalQueryBytes) return 'maxTotalQueryBytes';
    return undefined;
  };
  let victim: Held | undefined;
  if (over() && r.group !== undefined) {
    const waiting = held.filter((h) => h.waiting && h.group !== undefined);
    const count = (g?: string) => waiting.filter((h) => h.group === g).length;
    let top: string | undefined, most = 0;
    for (const h of waiting) if (count(h.group) > most) (top = h.group), (most = count(h.group));
    if (top !== undefined && most > count(r.group) + 1) victim = waiting.find((h) => h.group === top);
  }
  const still = victim ? over(victim) : over();
  if (still) throw new Error(still);
  if (r.group !== undefined && l.maxAddressPercent < 100) {
    const mine = held.filter((h) => h.group === r.group);
    if (mine.length >= addressShare(l.maxSessions, l.maxAddressPercent, l.maxSessionsPerClient)) throw new Error('maxAddressPercent');
    if (r.bytes > 0 && mine.reduce((a, h) => a + h.bytes, 0) + r.bytes > addressShare(l.maxTotalQueryBytes, l.maxAddressPercent, l.maxQueryBytes)) throw new Error('maxAddressPercent');
  }
  return victim?.session;
}

/** The limit a refusal names (the reference throws the name itself). */
const limitOf = (msg: string): string => /\((maxSessionsPerClient|maxSessions|maxPendingRequests|maxTotalQueryBytes|maxAddressPercent)\b/.exec(msg)?.[1] ?? /(maxSessionsPerClient|maxAddressPercent|maxSessions|maxPendingRequests|maxTotalQueryBytes)/.exec(msg)?.[1] ?? msg;

test('random admissions, starts and releases: the running totals decide as a full recount does', (t) => {
  // mulberry32, seeded: a failure replays.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let z = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z;
    return Math.floor((((z ^ (z >>> 14)) >>> 0) / 2 ** 32) * n);
  };
  let pushes = 0, refusals = 0;
  const byLimit: Record<string, number> = {};
  for (let round = 0; round < 40; round++) {
    const l: ServiceLimits = { ...DEFAULT_LIMITS, maxSessions: 2 + rand(12), maxSessionsPerClient: 1 + rand(4), maxPendingRequests: 1 + rand(8), maxQueryBytes: 100, maxTotalQueryBytes: 100 + rand(600), maxAddressPercent: [100, 50, 30, 75][rand(4)] };
    l.maxSessionsPerClient = Math.min(l.maxSessionsPerClient, l.maxSessions);
    const acc = new SessionAccounting(l);
    let held: Held[] = [];
    for (let step = 0; step < 300; step++) {
      const op = rand(10);
      if (op < 8) {
        // One address sends most requests, mostly waiting ones: the others then push them out.
        const r = { session: `s${round}-${step}`, client: `c${rand(20)}`, group: rand(8) === 0 ? undefined : rand(3) === 0 ? `g${1 + rand(2)}` : 'g0', bytes: rand(3) === 0 ? 0 : 1 + rand(100), pending: rand(3) !== 0 };
        let want: string | undefined, wantErr: string | undefined, got: string | undefined, gotErr: string | undefined;
        try {
          want = referenceAdmit(held, l, r);
        } catch (e) {
          wantErr = (e as Error).message;
        }
        try {
          got = acc.admit(r.session, r.client, r.bytes, r.pending, r.group);
        } catch (e) {
          gotErr = limitOf((e as Error).message);
        }
        if (gotErr !== wantErr || got !== want) return t.fail(`round ${round} step ${step}: ${JSON.stringify({ r, l, want, wantErr, got, gotErr, held })}`);
        if (wantErr) (refusals++, (byLimit[wantErr] = (byLimit[wantErr] ?? 0) + 1));
        else {
          if (want) (held = held.filter((h) => h.session !== want)), pushes++;
          held.push({ session: r.session, client: r.client, group: r.group, bytes: r.bytes, waiting: r.pending });
        }
      } else if (op < 9 && held.length) {
        const h = held[rand(held.length)];
        acc.started(h.session);
        h.waiting = false;
      } else if (held.length) {
        const h = held[rand(held.length)];
        acc.release(h.session);
        held = held.filter((x) => x !== h);
      }
      const c = acc.counters();
      const want = { sessions: held.length, pending: held.filter((h) => h.waiting).length, clients: new Set(held.map((h) => h.client)).size, estimatedBytes: held.reduce((a, h) => a + h.bytes, 0) };
      if (JSON.stringify({ ...c, refused: undefined }) !== JSON.stringify({ ...want, refused: undefined })) return t.fail(`round ${round} step ${step}: counters ${JSON.stringify(c)}, recounted ${JSON.stringify(want)}`);
    }
  }
  t.log(`${pushes} pushed out; refusals by limit: ${JSON.stringify(byLimit)}`);
  t.true(pushes > 20, `${pushes} pushed out`);
  t.true(refusals > 200, `${refusals} refused`);
});

test('an estimate that is not a number is refused, not counted: the totals keep bounding memory', (t) => {
  const acc = new SessionAccounting({ ...DEFAULT_LIMITS, maxTotalQueryBytes: 2 ** 20, maxQueryBytes: 2 ** 20 });
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1]) t.throws(() => acc.admit(`s${bad}`, 'c', bad, false, 'g'), { message: /memory estimate is/ });
  t.is(acc.counters().estimatedBytes, 0);
  acc.admit('a', 'c1', 2 ** 20, false, 'g');
  t.throws(() => acc.admit('b', 'c2', 1, false, 'h'), { message: /maxTotalQueryBytes/ });
});
