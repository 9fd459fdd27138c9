// `status`'s ready is /healthz's: a server whose own link to a peer is down is not ready, and says
// why (from an operator's walkthrough: status said server1 ready while its link to server2 was
// refused, and /healthz on server0 said 503).
import test from 'ava';

import type { Epoch } from '../lib/serve/epoch';
import { readiness } from '../lib/serve/status';

const epoch = (isReady: boolean) => ({ isReady }) as unknown as Epoch;
const links = (...down: string[]) => ({ connected: (p: string) => !down.includes(p) });

test('ready only when set up, linked to both peers and not stopping; otherwise the reason', (t) => {
  t.deepEqual(readiness({ me: 'server1', epoch: epoch(true), stopping: false, endpoint: links() }), { ready: true, reason: 'server1 is ready' });
  t.deepEqual(readiness({ me: 'server1', epoch: epoch(true), stopping: false, endpoint: links('server2') }), { ready: false, reason: 'server1 is not connected to server2' });
  t.deepEqual(readiness({ me: 'server0', epoch: epoch(true), stopping: false, endpoint: links('server1', 'server2') }), { ready: false, reason: 'server0 is not connected to server1 and server2' });
  t.deepEqual(readiness({ me: 'server2', epoch: epoch(false), stopping: false, endpoint: links() }), { ready: false, reason: 'server2 is connected but the cluster setup has not finished' });
  t.deepEqual(readiness({ me: 'server2', epoch: undefined, stopping: false, endpoint: links() }).ready, false);
  t.deepEqual(readiness({ me: 'server0', epoch: epoch(true), stopping: true, endpoint: links() }), { ready: false, reason: 'server0 is shutting down (refusing new requests)' });
});
