// A query server0 starts on a pooled index, in a session server1 or server2 had already ended
// (it refused its copy of the request, naming another model): the start notice came after the end
// and was dropped with the session's stragglers, so what server2 dealt for the index stayed until
// the setup ended (from a review: on server1 one recording's material per probe; on server2 one
// recording held in maxPoolRecordings). Now the notice frees it there.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { SERVER1, SERVERS } from '../lib/protocol/party';
import { ask, rawClient, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';
import { poolSettled } from './helpers/service';

test('a start notice for a session a server had ended frees the pooled index there', (t) =>
  withOwnerCluster({ precomputePool: 4, maxPoolRecordings: 16 }, async (c, owner) => {
    const m = mlp([32, 64, 10]);
    await owner.deploy(m.file, { name: 'm', protocol: 'pond', uncalibrated: true });
    const before = await poolSettled(owner);
    t.true(before[2].pool!.held >= 4, `server2 holds ${before[2].pool!.held} recordings`);
    const ep = await rawClient(c);
    try {
      for (const refuser of [SERVER1, 'server2']) {
        for (let i = 0; i < 3; i++) {
          const session = randomUUID();
          const good = { type: 'predict', model: 'm', shape: [1, 32] };
          // The refusing server ends the session first; then server0 admits it on a pooled index.
          const [refused] = await ask(ep, [refuser], session, { ...good, model: 'nosuch' });
          t.false(refused.ok);
          const others = SERVERS.filter((s) => s !== refuser);
          void ask(ep, others, session, good, 3000).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 300));
          // The client gives up, as PredictionClient does after a refusal.
          ep.abortSession(session, 'the client gives up', [...SERVERS]);
        }
      }
      await new Promise((r) => setTimeout(r, 500));
      const after = await poolSettled(owner);
      t.log(`server1 prefetched ${before[1].prefetched!.messages} -> ${after[1].prefetched!.messages} messages; server2 holds ${before[2].pool!.held} -> ${after[2].pool!.held}`);
      t.is(after[1].prefetched!.messages, before[1].prefetched!.messages, 'server1 holds what it held before');
      t.is(after[2].pool!.held, before[2].pool!.held, 'server2 holds as many recordings as before');
      t.true(c.logs.some((l) => /freed index \d+ of session .*: started by server0 after it ended here/.test(l)));
      // And the model still serves.
      const client = await c.connect();
      const x = Float64Array.from({ length: 32 }, () => Math.random());
      t.is((await client.predict('m', { data: x, shape: [1, 32] })).data.length, 10);
    } finally {
      await ep.close();
    }
  }));
