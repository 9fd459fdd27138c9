// The server side of browser clients: allowedOrigins in cluster.json, and the handshake rules
// (lib/net/handshake.ts) for requests with an Origin or the 'tfe-client' subprotocol.
import { randomUUID } from 'node:crypto';
import type * as http from 'node:http';

import test from 'ava';
import WebSocket from 'ws';

import { CLIENT_PROTOCOL, handshakeRefusal, type HandshakePolicy } from '../lib/net/handshake';
import { encodeFrames } from '../lib/net/wire';
import { REQUEST_KEY, WsEndpoint } from '../lib/net/ws_endpoint';
import { parseClusterConfig } from '../lib/serve/config';

const parties = { server0: { host: '127.0.0.1', port: 1 }, server1: { host: '127.0.0.1', port: 2 }, server2: { host: '127.0.0.1', port: 3 } };

test('allowedOrigins: none by default; exact origins or "*"; anything else refused naming the entry', (t) => {
  t.deepEqual(parseClusterConfig({ parties }).allowedOrigins, []);
  t.deepEqual(parseClusterConfig({ parties, allowedOrigins: ['https://a.example', 'http://127.0.0.1:8080', '*'] }).allowedOrigins, ['https://a.example', 'http://127.0.0.1:8080', '*']);
  for (const bad of ['https://a.example/', 'https://a.example/page', 'a.example', 7])
    t.throws(() => parseClusterConfig({ parties, allowedOrigins: [bad] }), { message: new RegExp(`allowedOrigins: ${JSON.stringify(bad).replace(/[/.]/g, '\\$&')} is not an origin`) });
  t.throws(() => parseClusterConfig({ parties, allowedOrigins: 'https://a.example' }), { message: /'allowedOrigins' must be a list/ });
});

const req = (headers: Record<string, string>): http.IncomingMessage => ({ headers, socket: { remoteAddress: '127.0.0.1' } }) as unknown as http.IncomingMessage;
const policy = (allowedOrigins?: string[]): HandshakePolicy => ({ me: 'server1', tls: false, insecure: false, peers: new Set(['server0']), allowedOrigins });

test('handshake: a page is a client by subprotocol, admitted only from an allowed origin', (t) => {
  const page = (origin: string) => req({ origin, 'sec-websocket-protocol': CLIENT_PROTOCOL });
  t.regex(handshakeRefusal(page('https://a.example'), policy())!, /origin https:\/\/a\.example is not allowed/);
  t.is(handshakeRefusal(page('https://a.example'), policy(['https://a.example'])), undefined);
  t.regex(handshakeRefusal(page('https://b.example'), policy(['https://a.example']))!, /not allowed/);
  t.is(handshakeRefusal(page('https://b.example'), policy(['*'])), undefined);
  // Unchanged for Node clients (no Origin), and a request naming neither role is still refused.
  t.is(handshakeRefusal(req({ 'x-tfe-client': '1' }), policy()), undefined);
  t.regex(handshakeRefusal(req({}), policy())!, /no x-tfe-party or x-tfe-client header \(or 'tfe-client' subprotocol\)/);
  t.regex(handshakeRefusal(req({ 'sec-websocket-protocol': 'chat, superchat' }), policy())!, /no x-tfe-party/);
  // A server link never comes from a page, even from an allowed origin.
  t.regex(handshakeRefusal(req({ origin: 'https://a.example', 'x-tfe-party': 'server0' }), policy(['*']))!, /cannot connect as a server/);
});

test('the endpoint marks clients that came from a page (so the server never takes them for the owner or operator)', async (t) => {
  const server = new WsEndpoint({ me: 'server1', port: 0, allowedOrigins: ['https://a.example'], log: () => undefined });
  const seen = new Map<string, boolean>();
  server.on('request', (peer) => seen.set(peer, server.fromPage(peer)));
  await server.start([]);
  try {
    const send = (opts: WebSocket.ClientOptions, protocols?: string) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}`, protocols ? [protocols] : [], opts);
        ws.on('open', () => {
          const [[prefix, body]] = encodeFrames(randomUUID(), REQUEST_KEY, { kind: 'control', data: { type: 'models' } });
          ws.send(Buffer.concat([prefix, body]));
          setTimeout(() => (ws.close(), resolve()), 100);
        });
        ws.on('error', reject);
      });
    await send({ origin: 'https://a.example' }, CLIENT_PROTOCOL);
    await send({ headers: { 'x-tfe-client': '1' } });
    t.deepEqual([...seen.values()].sort(), [false, true], 'one request from a page, one from a Node client');
  } finally {
    await server.close('done');
  }
});
