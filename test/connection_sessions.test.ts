// The transport's own bound on one client connection's sessions in progress follows the service's
// limits: it used to be a fixed 256, so a config that allowed a client more (maxSessionsPerClient,
// maxPendingRequests) had that client's whole connection closed at its 257th request, with an
// error naming a maxSessionsPerClient of 256 the operator never set.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { SERVER1 } from '../lib/protocol/party';
import { DEFAULT_LIMITS } from '../lib/serve/limits';
import { connectionSessions } from '../lib/serve/server';
import { inputOp } from '../lib/serve/programs';
import { ask, rawClient, sendInput, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';

const LIMITS = { maxSessionsPerClient: 400, maxSessions: 1000, maxPendingRequests: 400, maxTotalQueryBytes: 2 ** 36, maxPendingBytesPerServer: 2 ** 36 };

test('300 requests waiting on one connection, as the limits allow: the connection stays, each is answered', async (t) => {
  t.true(connectionSessions(LIMITS) > 300);
  await withOwnerCluster(LIMITS, async (c, owner) => {
    await owner.deploy(mlp([4, 2]).file, { name: 'm', protocol: 'pond', uncalibrated: true });
    const ep = await rawClient(c);
    try {
      // To server1 only: each waits for server0's notice (which never comes) up to the pairing timeout.
      // Each with its input held there: a session in progress, not an idle one the transport may forget.
      const answers = await Promise.all(
        Array.from({ length: 300 }, () => {
          const session = randomUUID();
          const answer = ask(ep, [SERVER1], session, { type: 'predict', model: 'm', shape: [1, 4] }, 60_000);
          void sendInput(ep, session, SERVER1, inputOp(0), { kind: 'tensor', dtype: 'ring64', shape: [1, 4], data: new Uint8Array(32) }).catch(() => undefined);
          return answer;
        }),
      );
      t.true(ep.connected(SERVER1), 'still connected');
      const reasons = new Set(answers.map(([r]) => (r.ok ? 'ok' : r.error.replace(/[0-9a-f-]{36}/g, '<id>'))));
      t.false([...reasons].some((r) => /no answer|sessions in progress/.test(r)), [...reasons].join('; '));
    } finally {
      await ep.close();
    }
  });
});

// The server ends the sessions of requests it answers at once (status, models, leases, undeploy):
// the transport no longer forgets sessions it takes for idle (which could be a query waiting to
// be paired), so without that a client polling status would pass the bound.
test('a client polling status and models on one connection, past the connection\'s session bound, keeps its connection', (t) =>
  withOwnerCluster({}, async (c) => {
    const bound = connectionSessions(DEFAULT_LIMITS);
    const ep = await rawClient(c);
    try {
      for (let i = 0; i < bound + 20; i++) {
        const [a] = await ask(ep, [SERVER1], randomUUID(), { type: i % 2 ? 'status' : 'models' });
        t.true(a.ok, JSON.stringify(a));
        if (!a.ok) break;
      }
      t.true(ep.connected(SERVER1), 'still connected');
    } finally {
      await ep.close();
    }
  }));
