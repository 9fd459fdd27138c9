// WebSocket transport throughput against a raw TCP socket (node:net) on loopback, same run:
// 256 MiB in 8 MiB tensor messages (chunked into 4 MiB frames by the transport).
//
//   npm run bench:ws            table
//   npm run bench:ws -- --json  one JSON object
import * as net from 'node:net';

import * as tfe from '../lib';
import { nowMs } from './lib/timing';
import { checkOptions } from './lib/args';

const TOTAL = 256 << 20;
const MESSAGE = 8 << 20;

async function rawTcp(): Promise<number> {
  const payload = Buffer.alloc(MESSAGE, 7);
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = net.createServer((sock) => sock.on('data', (d) => { received += d.length; if (received >= TOTAL) done(); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', r));
  const t0 = nowMs();
  for (let sent = 0; sent < TOTAL; sent += MESSAGE)
    if (!client.write(payload)) await new Promise<void>((r) => client.once('drain', r));
  await finished;
  const ms = nowMs() - t0;
  client.destroy();
  server.close();
  return TOTAL / (ms / 1e3) / 1e9;
}

async function webSocket(): Promise<number> {
  const eps = new Map(['a', 'b'].map((p) => [p, new tfe.WsEndpoint({ me: p })]));
  await Promise.all([eps.get('a')!.start(['b']), eps.get('b')!.start(['a'])]);
  await eps.get('a')!.connect({ name: 'b', host: '127.0.0.1', port: eps.get('b')!.port });
  const tr = new tfe.WebSocketTransport(['a', 'b'], eps);
  const data = new Uint8Array(MESSAGE).fill(7);
  const n = TOTAL / MESSAGE;
  const t0 = nowMs();
  const recvs = Array.from({ length: n }, (_, i) => tr.recv('b', 'a', { opId: i, op: 'bench', step: 's' }));
  for (let i = 0; i < n; i++) await tr.send('a', 'b', { opId: i, op: 'bench', step: 's' }, { kind: 'tensor', dtype: 'ring64', shape: [MESSAGE / 8], data });
  await Promise.all(recvs);
  const ms = nowMs() - t0;
  await tr.close();
  return TOTAL / (ms / 1e3) / 1e9;
}

async function main(): Promise<void> {
  checkOptions(process.argv.slice(2), { flags: ['--json'], usage: 'npm run bench:ws [-- --json]' });
  // Alternate and keep the best of three each: the machine is shared.
  const tcp: number[] = [], ws: number[] = [];
  for (let i = 0; i < 3; i++) {
    tcp.push(await rawTcp());
    ws.push(await webSocket());
  }
  const best = (a: number[]) => Math.max(...a);
  const result = { tcp_gbps: best(tcp), ws_gbps: best(ws), ws_vs_tcp: best(ws) / best(tcp) };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log('| path | GB/s (best of 3) |\n|---|--:|');
  console.log(`| raw TCP (node:net) | ${result.tcp_gbps.toFixed(2)} |`);
  console.log(`| WebSocket transport | ${result.ws_gbps.toFixed(2)} |`);
  console.log(`\nWebSocket / TCP: ${result.ws_vs_tcp.toFixed(2)} (target >= 0.5)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
