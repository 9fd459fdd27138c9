// An undeploy while a prediction for the model waits on server1 for server0's go-ahead is refused
// there, as one running is (from a review: server1 removed the model, and the query then found it
// gone mid-way). Once that request ends, the undeploy goes through.
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { SERVER1 } from '../lib/protocol/party';
import { ask, rawClient, until, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';

test('undeploy is refused on a server holding a prediction that waits to be paired', (t) =>
  withOwnerCluster({}, async (c, owner) => {
    const m = mlp([8, 4]);
    await owner.deploy(m.file, { name: 'm', protocol: 'pond', uncalibrated: true });
    const ep = await rawClient(c);
    try {
      // Asked of server1 only: it waits for server0's notice that never comes (until its pairing timeout).
      const waiting = ask(ep, [SERVER1], randomUUID(), { type: 'predict', model: 'm', shape: [1, 8] }, 60_000);
      await until(async () => (await owner.status())[1].pending === 1, 'the request to wait on server1');
      await t.throwsAsync(owner.undeploy('m'), { message: /server1: model 'm' has 1 queries in flight; retry when they finish/ });
      const [answer] = await waiting;
      t.false(answer.ok);
      t.deepEqual(await owner.undeploy('m'), [SERVER1], 'server1 removes it once the request has ended');
      t.deepEqual(await owner.models(), []);
    } finally {
      await ep.close();
    }
  }));
