// server2's pool remembers an index server0 freed only while that index's pool notice is still to
// be acted on (a deploy or setup finishing), so that the notice skips it; an index freed after
// its notice was acted on, or skipped because the pool was full, leaves nothing behind. Before, a
// client that alternated batch sizes could make server0 free reserved indices that were never
// prepared (the pool full of recordings no query took), and server2 kept every one for the whole
// setup (up to 2^24 indices).
import test from 'ava';
import { resolveOptions } from '../lib/protocol/protocol_options';

import { PrecomputePool } from '../lib/serve/pool';

test('a freed index is remembered only while its pool notice is still to be acted on', (t) => {
  const pool = new PrecomputePool(() => undefined, 8, () => true);
  pool.noticed([5, 6]);
  pool.unreserved(5);
  t.deepEqual(pool.acted([5, 6]), [6], 'freed while waiting: the notice skips it');
  t.deepEqual(pool.acted([5]), [5], 'and forgets it once skipped');
  // Freed after its notice was acted on (prepared or skipped): nothing to remember.
  for (let i = 100; i < 10_100; i++) pool.unreserved(i);
  t.deepEqual(pool.acted([100, 5000, 10_099]), [100, 5000, 10_099], 'none of the 10000 indices freed after their notices was kept');
  // A notice acted on twice (a deploy's waiting notices run again) and a cleared pool forget too.
  pool.noticed([7]);
  pool.unreserved(7);
  pool.clear();
  t.deepEqual(pool.acted([7]), [7]);
});

// A query on a pooled index that ends before it took its recording (early, while its setup was
// still being made: its pool notice not acted on yet) discards that index (query_run.ts): the
// notice then skips it. Before, the recording was made later for nobody, and held one of the
// setup's maxPoolRecordings until the next setup.
test('discarding an index whose pool notice is not acted on yet has the notice skip it', (t) => {
  const pool = new PrecomputePool(() => undefined, 8, () => true);
  pool.noticed([3, 4]);
  pool.discard(3);
  t.deepEqual(pool.acted([3, 4]), [4]);
  // After its notice was acted on, discarding an index with no recording leaves nothing behind.
  pool.discard(4);
  t.deepEqual(pool.acted([4]), [4]);
});

test("take's wait for a recording ends with the query's early end, even queued behind a stuck one", async (t) => {
  const pool = new PrecomputePool(() => undefined, 8, () => true);
  // An 'auto' FSS model: each recording first announces its gate form (gate_form.ts), and here
  // that send never completes, as to a stalled server. Index 2's recording waits in its lane
  // behind index 1's, whose query has not come (a lease holds it, say).
  const never = new Promise<never>(() => undefined);
  const root = { fork: () => ({ party: () => ({ sendControl: () => never }) }) };
  const model = { name: 'm', protocol: 'fss' as const, ...resolveOptions('fss', {}, 'test'), spec: { layers: [] } as never, shares: [] };
  pool.noticed([1, 2]);
  pool.prepare(root as never, 'server2', model, {} as never, 1, [1, 2], () => ({ traffic: () => ({ total: { bytes: 0, messages: 0, rounds: 0 } }) }) as never);
  t.is(pool.held, 2);
  let endEarly!: (e: Error) => void;
  const early = new Promise<never>((_, reject) => (endEarly = reject));
  const taken = pool.take(2, 1, undefined, early);
  setTimeout(() => endEarly(new Error('timed out after 50 ms')), 50);
  const outcome = await Promise.race([taken.then(() => 'answered', (e: Error) => e.message), new Promise((r) => setTimeout(() => r('still waiting after 2 s'), 2000))]);
  t.is(outcome, 'timed out after 50 ms');
  // The early end drops the recording once (QueryEnd's abort, then the failure it causes, both
  // abandon it: counted once in `discarded`, which /metrics shows).
  t.true(pool.abandon(2));
  t.false(pool.abandon(2));
  t.is(pool.discarded, 1);
});
