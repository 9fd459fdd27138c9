// server2's pool remembers an index server0 freed only while that index's pool notice is still to
// be acted on (a deploy or setup finishing), so that the notice skips it; an index freed after
// its notice was acted on, or skipped because the pool was full, leaves nothing behind. Before, a
// client that alternated batch sizes could make server0 free reserved indices that were never
// prepared (the pool full of recordings no query took), and server2 kept every one for the whole
// setup (up to 2^24 indices).
import test from 'ava';

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
