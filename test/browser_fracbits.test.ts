// A page that does not state fracBits encodes with the cluster's, as its model list reports it
// (from the API review: it encoded with 16 and learnt of the cluster's only from a failed query).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';
import WebSocket from 'ws';

import * as tfe from '../lib';
import { connect, type SocketFactory } from '../lib/browser';
import { loadClusterConfig } from '../lib/serve/config';
import { mlp } from './helpers/model_files';

const sockets: SocketFactory = (url, protocols) => new WebSocket(url, protocols) as never;

test('a page without fracBits takes the cluster\'s from its model list; a stated one that differs is refused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-fracbits-'));
  const { config, procs } = await tfe.startLocalCluster(dir, { tls: false, extra: { fracBits: 12 }, onLine: () => undefined });
  t.teardown(() => tfe.stopCluster(procs));
  const m = mlp([6, 3]); // one Dense and a softmax: no relu, Pond runs it exactly
  const owner = await tfe.PredictionClient.connect(config, { asOwner: true });
  await owner.deploy(m.file, { name: 'lin', protocol: 'pond' });
  await owner.close();
  const c = loadClusterConfig(config);
  const urls = (['server0', 'server1', 'server2'] as const).map((s) => `ws://127.0.0.1:${c.parties[s].port}`);
  const page = await connect(urls, { socket: sockets });
  t.teardown(() => page.close());
  t.is(page.fracBits, 16, 'before it has listed the models');
  const x = Float64Array.from({ length: 6 }, () => Math.random() * 2 - 1);
  const p = await page.predict('lin', { data: x, shape: [1, 6] });
  t.is(page.fracBits, 12);
  const want = m.forward(x, (z) => z);
  want.forEach((w, i) => t.true(Math.abs(p.data[i] - w) < 1e-2, `${i}: ${p.data[i]} vs ${w}`));
  const stated = await connect(urls, { socket: sockets, fracBits: 16 });
  t.teardown(() => stated.close());
  await t.throwsAsync(stated.predict('lin', { data: x, shape: [1, 6] }), { message: /computes with fracBits 12, this page encoded with 16/ });
});
