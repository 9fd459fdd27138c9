// The CLI's reachability probe (a TCP connect, then close) is not a refused TLS connection: TLS
// servers must not log one for every CLI command, while a real failed handshake still is logged.
import * as net from 'node:net';

import test from 'ava';

import * as tfe from '../lib';
import { probeCluster } from '../lib/cli/term';
import { startCluster } from './helpers/service';

test('a probe that connects and closes is not logged as a refused TLS connection; a bad handshake is', async (t) => {
  const c = await startCluster();
  try {
    await c.ready();
    const cfg = tfe.loadClusterConfig(c.config);
    await probeCluster(cfg);
    await new Promise((r) => setTimeout(r, 300));
    t.deepEqual(c.logs.filter((l) => /refused a TLS connection/.test(l)), [], 'no log line for the probe');
    // Bytes that are not a TLS handshake: the server refuses them, and says so.
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: cfg.parties.server0.port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      setTimeout(() => (s.destroy(), resolve()), 1000);
    });
    const seen = async () => c.logs.some((l) => /\[tfe server0\] refused a TLS connection/.test(l));
    for (let i = 0; i < 20 && !(await seen()); i++) await new Promise((r) => setTimeout(r, 100));
    t.true(await seen(), 'a failed handshake is still logged');
  } finally {
    await c.stop();
  }
});
