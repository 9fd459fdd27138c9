// An undeploy while a prediction for the model waits on server1 for server0's go-ahead: server1
// drops that request, telling its client, and removes the model with the others (from two
// reviews: server1 removed the model under the request, which then found it gone mid-query; and
// refusing the undeploy instead let anyone keep the model on server1 alone by leaving such
// requests waiting there).
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { SERVER1, SERVERS } from '../lib/protocol/party';
import { ask, rawClient, until, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';

test('undeploy drops a prediction waiting to be paired on server1, telling its client, and removes the model everywhere', (t) =>
  withOwnerCluster({}, async (c, owner) => {
    const m = mlp([8, 4]);
    await owner.deploy(m.file, { name: 'm', protocol: 'pond', uncalibrated: true });
    const ep = await rawClient(c);
    try {
      // Asked of server1 only (anyone may): it waits for server0's notice that never comes.
      const waiting = ask(ep, [SERVER1], randomUUID(), { type: 'predict', model: 'm', shape: [1, 8] }, 60_000);
      await until(async () => (await owner.status())[1].pending === 1, 'the request to wait on server1');
      const t0 = Date.now();
      t.deepEqual(await owner.undeploy('m'), [...SERVERS]);
      const [answer] = await waiting;
      t.regex(answer.ok ? 'ok' : answer.error, /server1: model 'm' is being undeployed/);
      t.true(Date.now() - t0 < 5000, 'answered at the undeploy, not at the pairing timeout');
      t.deepEqual(await owner.models(), []);
      t.is((await owner.status())[1].pending, 0);
    } finally {
      await ep.close();
    }
  }));
