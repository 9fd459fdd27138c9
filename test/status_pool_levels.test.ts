// The operator's pool levels (held, making) count the setup a renewal replaced too, whose
// recordings serve the queries of its grace (from a review: tfe_pool_held read near 0 at every
// renewal, and the empty-pool alert of docs/operators.md fired); counters stay the current setup's.
import test from 'ava';

import type { WsEndpoint } from '../lib/net/ws_endpoint';
import type { Epoch } from '../lib/serve/epoch';
import type { LeaseBook } from '../lib/serve/leases';
import type { SessionAccounting } from '../lib/serve/limits';
import { serverStatus } from '../lib/serve/status';

const pool = (held: number, making: number, recorded: number) => ({ held, making, recorded, replayed: 0, discarded: 0, offlineBytes: 0, redealt: 0, pressure: { compact: 0 }, near: () => true });
const epoch = (id: string, p: ReturnType<typeof pool>) => ({ id, isReady: true, indicesLeft: 10, pool: p }) as unknown as Epoch;

test("during a renewal's grace the pool's levels count both setups; its counters the current one", (t) => {
  const endpoint = { heldWithPrefix: () => ({ bytes: 0, messages: 0, waiting: 0 }), pending: 0, stats: () => ({}), rttMs: () => undefined, hasLane: () => false, connected: () => true } as unknown as WsEndpoint;
  const st = serverStatus(
    {
      me: 'server2',
      epoch: epoch('new', pool(1, 2, 5)),
      previous: epoch('old', pool(6, 1, 40)),
      models: ['m'],
      running: 0,
      pending: 0,
      endpoint,
      stopping: false,
      sessions: { counters: () => ({}) } as unknown as SessionAccounting,
      leases: { size: 0, granted: 0, used: 0, expired: 0, evicted: 0 } as unknown as LeaseBook,
      renewals: 1,
    },
    true,
  );
  t.is(st.pool!.held, 7);
  t.is(st.pool!.making, 3);
  t.is(st.pool!.recorded, 5);
});
