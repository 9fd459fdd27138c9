// Servers named by IPv6 address in cluster.json, bare ("::1") or in brackets ("[::1]"), as the
// config accepts both: their links, lanes and a client's connections work, and a query is exact.
// Before, a bare address made the dialled URL "wss://::1:port" (refused), and a bracketed one
// could not be listened on (getaddrinfo ENOTFOUND [::1]): the config now keeps it bare. Skipped where this host has no IPv6 loopback.
import * as net from 'node:net';

import test from 'ava';

import { mlp } from './helpers/model_files';
import { startCluster } from './helpers/service';

async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

test('servers at ::1 and [::1]: links with their lanes, a client, an exact query', async (t) => {
  if (!(await hasIpv6Loopback())) return t.pass('no IPv6 loopback here');
  const c = await startCluster({
    edit: (cfg) => {
      cfg.parties.server0.host = '::1';
      cfg.parties.server1.host = '[::1]';
      cfg.parties.server2.host = '::1';
    },
  });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    const status = await owner.status();
    t.true(status.every((s) => s.ready), JSON.stringify(status));
    t.true(status.every((s) => Object.values(s.linkLanes ?? {}).every(Boolean)), `lanes: ${JSON.stringify(status.map((s) => s.linkLanes))}`);
    const m = mlp([8, 4]);
    await owner.deploy(m.file, { name: 'm', protocol: 'fss' });
    const x = Float64Array.from({ length: 8 }, () => Math.random() - 0.5);
    const p = await owner.predict('m', { data: x, shape: [1, 8] });
    const want = m.forward(x, (v) => Math.max(v, 0));
    t.true(want.every((w, i) => Math.abs(p.data[i] - w) < 1e-3), `${[...p.data]} vs ${[...want]}`);
  } finally {
    await c.stop();
  }
});
