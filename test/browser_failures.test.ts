// Nothing hangs: the browser client against servers that never answer, never finish the
// handshake, or are not there. Each call must reject within its timeout, with a message.
import * as net from 'node:net';

import test from 'ava';
import WebSocket, { WebSocketServer } from 'ws';

import { connect, type SocketFactory } from '../lib/browser';

const sockets: SocketFactory = (url, protocols) => new WebSocket(url, protocols) as never;

/** Three WebSocket servers that accept a browser client and then say nothing. */
async function silentServers(): Promise<{ urls: string[]; close: () => void; received: Buffer[] }> {
  const received: Buffer[] = [];
  const servers = await Promise.all([0, 1, 2].map(() => new Promise<WebSocketServer>((r) => {
    const s: WebSocketServer = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => r(s));
    s.on('connection', (ws) => ws.on('message', (d: Buffer) => received.push(d)));
  })));
  return { urls: servers.map((s) => `ws://127.0.0.1:${(s.address() as net.AddressInfo).port}`), close: () => servers.forEach((s) => s.close()), received };
}

test('silent servers: the request times out naming them, and the servers are told to abort', async (t) => {
  const s = await silentServers();
  const client = await connect(s.urls, { socket: sockets, requestTimeoutMs: 300 });
  const t0 = Date.now();
  // A first prediction on a model asks for its input's description (token ids are encoded before sharing).
  await t.throwsAsync(client.predict('m', [[1, 2, 3]]), { message: /no answer from server0, server1, server2 within 300 ms \(models\)/ });
  t.true(Date.now() - t0 < 2000);
  await t.throwsAsync(client.models(), { message: /within 300 ms \(models\)/ });
  await new Promise((r) => setTimeout(r, 100));
  // Each server got the request, and the abort after it (wire v2 frames: the key is in the header).
  t.true(s.received.some((f) => f.includes('"key":"req"')));
  t.true(s.received.some((f) => f.includes('"key":"__abort"')));
  client.close();
  s.close();
});

test('a server that never finishes the handshake, or is not there: connect rejects in time', async (t) => {
  const s = await silentServers();
  const mute = net.createServer(() => undefined); // accepts TCP, never answers the upgrade
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  const mutePort = (mute.address() as net.AddressInfo).port;
  const t0 = Date.now();
  await t.throwsAsync(connect([s.urls[0], `ws://127.0.0.1:${mutePort}`, s.urls[2]], { socket: sockets, connectTimeoutMs: 300 }), { message: /cannot connect to server1 at ws:\/\/127\.0\.0\.1:\d+: no connection within 300 ms/ });
  t.true(Date.now() - t0 < 2000);
  mute.close();
  await t.throwsAsync(connect([s.urls[0], s.urls[1], `ws://127.0.0.1:${mutePort}`], { socket: sockets, connectTimeoutMs: 2000 }), { message: /cannot connect to server2 .*ECONNREFUSED/ });
  s.close();
});

test('bad arguments are rejected with the rule', async (t) => {
  await t.throwsAsync(connect(['ws://a:1', 'ws://b:1'], { socket: sockets }), { message: /three servers' URLs/ });
  await t.throwsAsync(connect(['http://a:1', 'ws://b:1', 'ws://c:1'], { socket: sockets }), { message: /server0's address http:\/\/a:1 must start with wss:\/\// });
  await t.throwsAsync(connect(['ws://a:1', 'not a url', 'ws://c:1'], { socket: sockets }), { message: /server1's address "not a url" is not a URL/ });
  await t.throwsAsync(connect(['ws://a:1', 'ws://b:1', 'ws://c:1'], { socket: sockets, fracBits: 40 }), { message: /fracBits/ });
  await t.throwsAsync(connect(['ws://a:1', 'ws://b:1', 'ws://c:1']), { message: /no WebSocket: pass a socket factory/ });
});

test('a server that does not speak the client subprotocol is named', async (t) => {
  const plain = await new Promise<WebSocketServer>((r) => {
    const s: WebSocketServer = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false }, () => r(s));
  });
  const url = `ws://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
  // ws (like browsers) fails a handshake whose answer drops the offered subprotocol.
  await t.throwsAsync(connect([url, url, url], { socket: sockets, connectTimeoutMs: 2000 }), { message: /cannot connect to server0/ });
  plain.close();
});
