// A query run on one server (lib/serve/query_run.ts) is registered before any of it runs and
// unregistered once it is over. A query whose setup is gone fails before its first wait, so its
// end comes before runQuery returns: registered after starting, as server.ts once did, it stayed
// registered for good (its model could never be undeployed: "has 1 queries in flight").
import test from 'ava';

import { ServerMetrics } from '../lib/serve/metrics';
import { PrecomputePool } from '../lib/serve/pool';
import type { Response } from '../lib/serve/messages';
import { type QueryRunHost, type RunningQuery, runQuery } from '../lib/serve/query_run';

function fakeHost(events: string[], running: Map<string, RunningQuery>, answers: Response[]): QueryRunHost {
  return {
    me: 'server1',
    config: { queryTimeoutMs: 60_000, fracBits: 16, leaseTtlMs: 1000 },
    endpoint: { abortSession: (s: string, why: string) => events.push(`abort ${s}: ${why}`), endSession: (s: string) => events.push(`end ${s}`) },
    log: () => undefined,
    metrics: new ServerMetrics(),
    // The setup the notice names is gone (replaced, its grace over): epochFor finds none.
    setup: { epochFor: () => undefined, current: undefined, previous: undefined },
    models: new Map(),
    store: {},
    leases: {},
    reservations: {},
    sessions: { release: (s: string) => events.push(`release ${s}`) },
    others: () => ['server0', 'server2'],
    respond: (_peer: string, _session: string, res: Response) => answers.push(res),
    deploying: () => undefined,
    started: (session: string, q: RunningQuery) => {
      events.push(`started ${session}`);
      running.set(session, q);
    },
    ended: (session: string) => {
      events.push(`ended ${session}`);
      running.delete(session);
    },
  } as unknown as QueryRunHost;
}

test('a query whose setup is gone fails at once, answered, and is not left registered', async (t) => {
  const events: string[] = [], running = new Map<string, RunningQuery>(), answers: Response[] = [];
  const host = fakeHost(events, running, answers);
  const seen: RunningQuery[] = [];
  const started = host.started;
  host.started = (session, q) => {
    seen.push(q);
    started(session, q);
  };
  runQuery(host, { session: 's1', client: 'client#1', req: { type: 'predict', model: 'm', shape: [1, 4] }, notice: { epoch: 'old', index: 7, pooled: false }, since: Date.now() });
  t.is(running.size, 0, 'nothing left registered');
  t.true(events.indexOf('started s1') >= 0 && events.indexOf('started s1') < events.indexOf('ended s1'), events.join(' | '));
  t.is(answers.length, 1);
  t.false(answers[0].ok);
  t.regex((answers[0] as { error: string }).error, /^server1: the cluster was set up again; retry/);
  // Its session ends everywhere, and its admission slot is freed, once each.
  t.is(events.filter((e) => e.startsWith('abort s1')).length, 1);
  t.is(events.filter((e) => e === 'release s1').length, 1);
  await t.notThrowsAsync(seen[0].done);
});

test("server2: a pooled query that ends while its setup is still being made leaves no recording to be made for it later", async (t) => {
  const events: string[] = [], running = new Map<string, RunningQuery>(), answers: Response[] = [];
  const host = fakeHost(events, running, answers);
  const pool = new PrecomputePool(() => undefined, 8, () => true);
  pool.noticed([7]); // server0's pool notice for index 7 came; acted on once the setup is ready
  const epoch = { id: 'e2', ready: new Promise(() => undefined), running: 0, maybeFree: () => undefined, pool };
  Object.assign(host, { me: 'server2', config: { ...host.config, queryTimeoutMs: 50 }, setup: { epochFor: () => epoch, current: epoch, previous: undefined } });
  const seen: RunningQuery[] = [];
  host.started = (session, q) => {
    seen.push(q);
    running.set(session, q);
  };
  runQuery(host, { session: 's2', client: 'client#2', req: { type: 'predict', model: 'm', shape: [1, 4] }, notice: { epoch: 'e2', index: 7, pooled: true }, since: Date.now() });
  await seen[0].done;
  t.regex((answers[0] as { error: string }).error, /timed out after 50 ms/);
  t.is(running.size, 0);
  t.deepEqual(pool.acted([7]), [], 'the setup, once ready, skips index 7');
});

test('a clean-up that throws (a bug) still settles the query, and is logged as an internal error', async (t) => {
  const events: string[] = [], running = new Map<string, RunningQuery>(), answers: Response[] = [], logs: string[] = [];
  const host = fakeHost(events, running, answers);
  host.log = (m, event) => logs.push(`${event}: ${m}`);
  const seen: RunningQuery[] = [];
  host.started = (session, q) => {
    seen.push(q);
    running.set(session, q);
  };
  host.ended = () => {
    throw new Error('a bug in the clean-up');
  };
  runQuery(host, { session: 's3', client: 'client#3', req: { type: 'predict', model: 'm', shape: [1, 4] }, notice: { epoch: 'old', index: 7, pooled: false }, since: Date.now() });
  await seen[0].done; // deploysSettled and stop() wait for this: it must settle
  await new Promise((r) => setImmediate(r));
  t.true(logs.some((l) => /^internal-error: internal error: the clean-up of session s3 failed: Error: a bug in the clean-up/.test(l)), logs.join('\n'));
});
