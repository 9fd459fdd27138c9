// Servers of different compute versions (PRG stream and DCF key layouts, protocol messages:
// lib/compute_version.ts) would compute wrong answers together without any error, so a server
// link is refused both ways when the versions differ, or when the peer is an older release that
// states none; the message names both versions. Clients are not asked.
import type * as http from 'node:http';

import test from 'ava';
import WebSocket, { WebSocketServer } from 'ws';

import { COMPUTE_VERSION } from '../lib/compute_version';
import { dialOnce } from '../lib/net/dialer';
import { handshakeRefusal } from '../lib/net/handshake';
import { WsEndpoint } from '../lib/net/ws_endpoint';

const req = (headers: Record<string, string>): http.IncomingMessage => ({ headers, socket: { remoteAddress: '127.0.0.1' } }) as unknown as http.IncomingMessage;
const policy = { me: 'server1', tls: false, insecure: false, peers: new Set(['server0']) };

test('the accepting server refuses a server of another compute version, or one that states none', (t) => {
  t.is(handshakeRefusal(req({ 'x-tfe-party': 'server0', 'x-tfe-compute': String(COMPUTE_VERSION) }), policy), undefined);
  t.regex(handshakeRefusal(req({ 'x-tfe-party': 'server0' }), policy)!, new RegExp(`^party 'server0' runs compute version 1 or older \\(it states none\\) and this server ${COMPUTE_VERSION} .*upgrade them together$`));
  t.regex(handshakeRefusal(req({ 'x-tfe-party': 'server0', 'x-tfe-compute': '99' }), policy)!, new RegExp(`^party 'server0' runs compute version "99" and this server ${COMPUTE_VERSION} `));
  // Clients are not asked for one.
  t.is(handshakeRefusal(req({ 'x-tfe-client': '1' }), policy), undefined);
});

test('end to end: a link between two current servers forms; an older acceptor is refused by the dialer, an older dialer by the acceptor', async (t) => {
  const logs: string[] = [];
  const s1 = new WsEndpoint({ me: 'server1', log: (m) => logs.push(m) });
  const s0 = new WsEndpoint({ me: 'server0', log: () => undefined });
  await s1.start(['server0']);
  await s0.start(['server1']);
  await s0.connect({ name: 'server1', host: '127.0.0.1', port: s1.port }, { timeoutMs: 2000 });
  t.true(s0.connected('server1'));
  await s0.close();

  // An older release as the accepting side: a WebSocket server that answers without a version.
  const old = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => old.once('listening', r));
  const oldPort = (old.address() as { port: number }).port;
  const dialLogs: string[] = [];
  const s0b = new WsEndpoint({ me: 'server0', log: (m) => dialLogs.push(m) });
  await s0b.start(['server1']);
  await t.throwsAsync(s0b.connect({ name: 'server1', host: '127.0.0.1', port: oldPort }, { timeoutMs: 600 }), {
    message: new RegExp(`server1 at 127\\.0\\.0\\.1:${oldPort} runs compute version 1 or older \\(it states none\\) and this server ${COMPUTE_VERSION}`),
  });
  // A server keeps re-dialing (the peer may be upgraded next); it says why once, not at every try.
  t.is(dialLogs.filter((l) => /^refusing to connect: server1 at .* runs compute version 1 or older/.test(l)).length, 1, dialLogs.join('\n'));
  await s0b.close();
  // What tfe doctor reads, dialing as a client (never refused for it): the version each answers with.
  const seen: (string | undefined)[] = [];
  for (const port of [s1.port, oldPort]) {
    const ws = await dialOnce({ name: 'server1', host: '127.0.0.1', port }, { me: 'doctor', asClient: true, handshakeTimeoutMs: 2000, onComputeVersion: (v) => seen.push(v) });
    ws.terminate();
  }
  t.deepEqual(seen, [String(COMPUTE_VERSION), undefined]);
  await new Promise((r) => old.close(r));

  // An older release as the dialing side: the current acceptor refuses it (401) and logs why.
  const status = await new Promise<number | 'open'>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s1.port}`, { headers: { 'x-tfe-party': 'server0' } });
    ws.on('unexpected-response', (_r, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve('open'));
    ws.on('error', () => undefined);
  });
  t.is(status, 401);
  t.true(logs.some((l) => /party 'server0' runs compute version 1 or older/.test(l)), logs.join('\n'));
  await s1.close();
});
