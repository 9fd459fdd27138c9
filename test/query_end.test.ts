// QueryEnd (lib/serve/query_end.ts): however a query ends early, its session (told to the others
// only when this server ends it), its pool session and any wait raced with `early` end together;
// its timeout counts from where the server says, and stops once the query is over.
import test from 'ava';

import { QueryEnd } from '../lib/serve/query_end';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorded(timeoutMs: number) {
  const seen = { sessions: [] as string[], pools: [] as string[] };
  const end = new QueryEnd({ abortSession: (r) => seen.sessions.push(r), abortPool: (r) => seen.pools.push(r) }, timeoutMs, 3000);
  const wait = Promise.race([new Promise(() => undefined), end.early]).then(() => 'resolved', (e: Error) => e.message);
  return { end, seen, wait };
}

test('ended here: the session (and the others), the pool session and the raced wait end, with the reason', async (t) => {
  const { end, seen, wait } = recorded(60_000);
  end.abort('the client disconnected');
  t.is(await wait, 'the client disconnected');
  t.deepEqual(seen, { sessions: ['the client disconnected'], pools: ['the client disconnected'] });
  end.settle();
});

test('ended by another party: its pool session and the raced wait end; the session is not aborted again', async (t) => {
  const { end, seen, wait } = recorded(60_000);
  end.aborted('server1: timed out after 3000 ms');
  t.is(await wait, 'server1: timed out after 3000 ms');
  t.deepEqual(seen, { sessions: [], pools: ['server1: timed out after 3000 ms'] });
  end.settle();
});

test("its timeout fires when told (a query paired late has less left; none: at once), not once the query is over", async (t) => {
  const late = recorded(-500);
  t.is(await late.wait, 'timed out after 3000 ms');
  t.deepEqual(late.seen.sessions, ['timed out after 3000 ms']);
  const soon = recorded(100);
  const t0 = Date.now();
  t.is(await soon.wait, 'timed out after 3000 ms');
  t.true(Date.now() - t0 >= 90, `${Date.now() - t0} ms`);
  const over = recorded(100);
  over.end.settle();
  await sleep(250);
  t.deepEqual(over.seen, { sessions: [], pools: [] }, 'a query that is over does not time out');
});
