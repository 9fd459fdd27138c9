// The clients' timeouts (from a review): a requestTimeoutMs no timer can keep (Infinity, 30 days)
// made every request fail at once, as timed out, so such values are refused by name; and
// connectTimeoutMs holds even against servers that take the socket and never answer (a 1 s
// connect took the whole 10 s handshake timeout).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { connect } from '../lib/browser';

test('timeouts no timer can keep are refused by name, in the Node and the browser client', async (t) => {
  for (const v of [Number.POSITIVE_INFINITY, 30 * 86_400_000, 0, -1, Number.NaN]) {
    await t.throwsAsync(tfe.PredictionClient.connect('/nonexistent/cluster.json', { requestTimeoutMs: v }), { message: /PredictionClient.connect: requestTimeoutMs must be a positive number of milliseconds up to 2147483647/ });
    await t.throwsAsync(connect(['ws://127.0.0.1:1', 'ws://127.0.0.1:2', 'ws://127.0.0.1:3'], { requestTimeoutMs: v }), { message: /connect: requestTimeoutMs must be a positive number of milliseconds up to 2147483647/ });
  }
  await t.throwsAsync(tfe.PredictionClient.connect('/nonexistent/cluster.json', { connectTimeoutMs: -1 }), { message: /connectTimeoutMs must be a positive number/ });
});

test('connectTimeoutMs holds against servers that take the socket and never answer', async (t) => {
  const sockets: net.Socket[] = [];
  const servers = await Promise.all([0, 1, 2].map(() => new Promise<net.Server>((r) => {
    const s = net.createServer((c) => sockets.push(c));
    s.listen(0, '127.0.0.1', () => r(s));
  })));
  try {
    const file = await tfe.writeLocalConfig(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-silent-')), { tls: false });
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
    ['server0', 'server1', 'server2'].forEach((s, i) => (cfg.parties[s].port = (servers[i].address() as net.AddressInfo).port));
    fs.writeFileSync(file, JSON.stringify(cfg));
    const t0 = Date.now();
    await t.throwsAsync(tfe.PredictionClient.connect(file, { connectTimeoutMs: 1000 }), { message: /could not connect to server\d/ });
    t.true(Date.now() - t0 < 3000, `failed after ${Date.now() - t0} ms`);
  } finally {
    for (const c of sockets) c.destroy();
    for (const s of servers) s.close();
  }
});
