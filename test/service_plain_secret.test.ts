// Plain-ws mode (no TLS, loopback): server links prove they belong to the cluster with the
// secret `tfe cluster --local` writes (0600). A local process that only claims to be a server by
// its header is refused, and the cluster keeps serving.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';
import WebSocket from 'ws';

import { loadClusterConfig } from '../lib/serve/config';
import { mlp } from './helpers/model_files';
import { startCluster } from './helpers/service';

test('plain ws: the local config carries a 0600 cluster secret, and a server link without it is refused', async (t) => {
  const cluster = await startCluster({ tls: false });
  try {
    await cluster.ready();
    const config = loadClusterConfig(cluster.config);
    t.is(config.clusterSecret, 'cluster.secret');
    const secretFile = path.join(cluster.dir, 'cluster.secret');
    t.is(fs.statSync(secretFile).mode & 0o777, 0o600);
    const port = config.parties.server1.port;
    // Pose as server0 with the header alone, then with a wrong secret.
    for (const headers of [{ 'x-tfe-party': 'server0' }, { 'x-tfe-party': 'server0', 'x-tfe-cluster-secret': 'f'.repeat(64) }]) {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}`, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => resolve(-1));
      });
      t.is(status, 401, `posing as server0 with ${Object.keys(headers).join(', ')}`);
    }
    // The real links were not replaced: a prediction still runs across the three servers.
    const m = mlp([6, 4, 3]);
    const owner = await cluster.connect({ asOwner: true });
    await owner.deploy(m.file, { name: 'plain' });
    await owner.close();
    const client = await cluster.connect();
    const x = Float64Array.from({ length: 6 }, () => Math.random());
    const p = await client.predict('plain', { data: x, shape: [1, 6] });
    const want = m.forward(x, (z) => Math.max(z, 0));
    t.true(p.data.length === want.length && want.every((w, i) => Math.abs(p.data[i] - w) < 1e-3), `${[...p.data]} vs ${[...want]}`);
    await client.close();
  } finally {
    await cluster.stop();
  }
});
