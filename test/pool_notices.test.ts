// server0's unpool notices on server1 and server2 (lib/serve/pool_notices.ts). At a renewed
// setup's grace end server0 frees what is left of its reservations; a second renewal can end that
// setup's grace on server1 and server2 before the notice comes (server0 announces the new setup
// first), and the notice must still free what server2 holds for it.
import test from 'ava';

import { PrecomputePool } from '../lib/serve/pool';
import { PoolNotices } from '../lib/serve/pool_notices';

test("an unpool notice for the setup a renewal replaced frees its indices here, its grace over or not", (t) => {
  const pool = new PrecomputePool(() => undefined, 8, () => true);
  pool.noticed([3, 4]); // server2 has not acted on their pool notice yet
  const ended: string[] = [];
  const old = { id: 'e1', pool };
  const notices = new PoolNotices({
    me: 'server2',
    endpoint: { endSession: (s: string) => ended.push(s) } as never,
    // Its grace is over here: epochFor no longer finds it, but it is still the previous setup.
    setup: { epochFor: () => undefined, current: { id: 'e3' }, previous: old } as never,
    models: new Map(),
    deploying: () => false,
  });
  notices.unpool({ type: 'unpool', epoch: 'e1', indices: [3] });
  t.deepEqual(ended, ['pool:e1:3']);
  t.deepEqual(pool.acted([3, 4]), [4], 'index 3 is not dealt');
  // A notice for a setup that is neither current, nor kept, nor previous does nothing.
  notices.unpool({ type: 'unpool', epoch: 'e0', indices: [9] });
  t.deepEqual(ended, ['pool:e1:3']);
});
