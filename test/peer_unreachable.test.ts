// A server whose peer cannot be reached (a wrong port in its cluster.json, the peer not running)
// says so in its own log, with the address and the error, once it has failed for a few seconds;
// from an operator's walkthrough: only the setup's failure showed, naming neither.
import * as net from 'node:net';

import test from 'ava';

import { UNREACHABLE_AFTER_MS } from '../lib/net/dialer';
import { WsEndpoint } from '../lib/net/ws_endpoint';
import type { LogEvent } from '../lib/log';

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('a server peer unreachable for a few seconds is logged with its address and the error, once per reason a minute; a client\'s is not', async (t) => {
  const lines: { line: string; event?: LogEvent }[] = [];
  const log = (line: string, event?: LogEvent) => void lines.push({ line, event });
  const server = new WsEndpoint({ me: 'server1', host: '127.0.0.1', port: 0, insecure: true, log });
  const client = new WsEndpoint({ me: 'client', insecure: true, log });
  t.teardown(async () => void (await Promise.all([server.close(), client.close()])));
  const port = await closedPort();
  const dials = [
    server.connect({ name: 'server2', host: '127.0.0.1', port }, { timeoutMs: UNREACHABLE_AFTER_MS + 2500 }),
    client.connect({ name: 'server0', host: '127.0.0.1', port }, { timeoutMs: UNREACHABLE_AFTER_MS + 2500, asClient: true }),
  ];
  const failed = await Promise.allSettled(dials);
  t.true(failed.every((r) => r.status === 'rejected'));
  const warned = lines.filter((l) => l.event === 'peer-unreachable');
  // Once per reason: several failed dials after 5 s, one line (a last dial cut short by the
  // deadline may fail for another reason, with a line of its own).
  t.true(warned.length >= 1 && new Set(warned.map((l) => l.line)).size === warned.length, JSON.stringify(lines));
  t.regex(warned[0].line, new RegExp(`cannot reach server2 at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.* \\(still trying; check parties\\.server2 in this host's cluster\\.json`));
  t.false(lines.some((l) => l.event === 'peer-unreachable' && /server0/.test(l.line)), 'a client\'s dial failures are its caller\'s to report');
});

test('a server peer that refuses this server\'s link (another cluster secret) is logged on this server too, with the peer\'s reason', async (t) => {
  const lines: { line: string; event?: LogEvent }[] = [];
  const log = (line: string, event?: LogEvent) => void lines.push({ line, event });
  const peer = new WsEndpoint({ me: 'server1', host: '127.0.0.1', port: 0, insecure: true, clusterSecret: 'a'.repeat(32), log: () => undefined });
  await peer.start(['server0']);
  const me = new WsEndpoint({ me: 'server0', host: '127.0.0.1', port: 0, insecure: true, clusterSecret: 'b'.repeat(32), log });
  t.teardown(async () => void (await Promise.all([peer.close(), me.close()])));
  await t.throwsAsync(me.connect({ name: 'server1', host: '127.0.0.1', port: peer.port }, { timeoutMs: UNREACHABLE_AFTER_MS + 2500 }));
  const warned = lines.filter((l) => l.event === 'peer-unreachable');
  t.true(warned.length >= 1 && new Set(warned.map((l) => l.line)).size === warned.length, JSON.stringify(lines));
  t.regex(warned[0].line, new RegExp(`server1 at 127\\.0\\.0\\.1:${peer.port} refuses this server's link: refused by server1: 401 .*secret.* \\(still trying; server1's log says more\\)`));
});
