// WebSocket transport throughput against a raw TCP socket (node:net) on loopback, same run:
// 256 MiB in 8 MiB tensor messages (chunked into 4 MiB frames by the transport), plain, over
// mutual TLS, and over mutual TLS with the link's lane (lib/net/lane.ts) as the service's server
// links run it. Both ends are in this process, on one thread,
// so its CPU seconds per GB (process.cpuUsage) are what sending and receiving a GB cost together:
// times the bytes a query moves between servers, that bounds it from below on a host with few cores
// (bench/RESULTS.md, "What moving keys costs").
//
//   npm run bench:ws            table
//   npm run bench:ws -- --json  one JSON object
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';

import * as tfe from '../lib';
import { nowMs } from './lib/timing';
import { checkOptions } from './lib/args';
import { tlsMaterial } from './lib/tls_material';
import type { TlsMaterial } from '../lib/net/handshake';

interface Rate {
  gbps: number;
  /** CPU seconds of this process (both ends) per GB moved. */
  cpuSecondsPerGb: number;
}

async function timed(run: () => Promise<void>): Promise<Rate> {
  const c0 = process.cpuUsage();
  const t0 = nowMs();
  await run();
  const ms = nowMs() - t0;
  const c = process.cpuUsage(c0);
  const gb = TOTAL / 1e9;
  return { gbps: gb / (ms / 1e3), cpuSecondsPerGb: (c.user + c.system) / 1e6 / gb };
}

const TOTAL = 256 << 20;
const MESSAGE = 8 << 20;

async function rawTcp(): Promise<Rate> {
  const payload = Buffer.alloc(MESSAGE, 7);
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = net.createServer((sock) => sock.on('data', (d) => { received += d.length; if (received >= TOTAL) done(); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', r));
  const rate = await timed(async () => {
    for (let sent = 0; sent < TOTAL; sent += MESSAGE)
      if (!client.write(payload)) await new Promise<void>((r) => client.once('drain', r));
    await finished;
  });
  client.destroy();
  server.close();
  return rate;
}

/** The transport between two endpoints, with each party's TLS material when given (and then lanes or not). */
async function webSocket(tls?: Record<string, TlsMaterial>, lanes = false): Promise<Rate> {
  // Plain links present a cluster secret, as a cluster without TLS must (and the endpoints then do
  // not warn that anyone could claim a party name).
  const secret = randomBytes(32);
  const eps = new Map(['a', 'b'].map((p) => [p, new tfe.WsEndpoint({ me: p, lanes, ...(tls ? { tls: tls[p] } : { clusterSecret: secret }) })]));
  await Promise.all([eps.get('a')!.start(['b']), eps.get('b')!.start(['a'])]);
  await eps.get('a')!.connect({ name: 'b', host: '127.0.0.1', port: eps.get('b')!.port });
  if (eps.get('a')!.hasLane('b') !== lanes) throw new Error(`the link ${lanes ? 'has no' : 'has a'} lane`);
  const tr = new tfe.WebSocketTransport(['a', 'b'], eps);
  const data = new Uint8Array(MESSAGE).fill(7);
  const n = TOTAL / MESSAGE;
  const rate = await timed(async () => {
    const recvs = Array.from({ length: n }, (_, i) => tr.recv('b', 'a', { opId: i, op: 'bench', step: 's' }));
    for (let i = 0; i < n; i++) await tr.send('a', 'b', { opId: i, op: 'bench', step: 's' }, { kind: 'tensor', dtype: 'ring64', shape: [MESSAGE / 8], data });
    await Promise.all(recvs);
  });
  await tr.close();
  return rate;
}

async function main(): Promise<void> {
  checkOptions(process.argv.slice(2), { flags: ['--json'], usage: 'npm run bench:ws [-- --json]' });
  const tls = tlsMaterial();
  // Alternate and keep the best of three each: the machine is shared.
  const tcp: Rate[] = [], ws: Rate[] = [], wss: Rate[] = [], lane: Rate[] = [];
  for (let i = 0; i < 3; i++) {
    tcp.push(await rawTcp());
    ws.push(await webSocket());
    wss.push(await webSocket(tls));
    lane.push(await webSocket(tls, true));
  }
  const best = (a: Rate[]) => a.reduce((x, y) => (y.gbps > x.gbps ? y : x));
  const [t, w, s, l] = [best(tcp), best(ws), best(wss), best(lane)];
  const result = {
    tcp_gbps: t.gbps, ws_gbps: w.gbps, ws_vs_tcp: w.gbps / t.gbps, tls_gbps: s.gbps, lane_gbps: l.gbps,
    tcp_cpu_s_per_gb: t.cpuSecondsPerGb, ws_cpu_s_per_gb: w.cpuSecondsPerGb, tls_cpu_s_per_gb: s.cpuSecondsPerGb, lane_cpu_s_per_gb: l.cpuSecondsPerGb,
  };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log('| path | GB/s (best of 3) | CPU s per GB, both ends |\n|---|--:|--:|');
  console.log(`| raw TCP (node:net) | ${t.gbps.toFixed(2)} | ${t.cpuSecondsPerGb.toFixed(2)} |`);
  console.log(`| WebSocket transport | ${w.gbps.toFixed(2)} | ${w.cpuSecondsPerGb.toFixed(2)} |`);
  console.log(`| WebSocket transport, mutual TLS, no lane | ${s.gbps.toFixed(2)} | ${s.cpuSecondsPerGb.toFixed(2)} |`);
  console.log(`| mutual TLS link with its lane (server links) | ${l.gbps.toFixed(2)} | ${l.cpuSecondsPerGb.toFixed(2)} |`);
  console.log(`\nWebSocket / TCP: ${result.ws_vs_tcp.toFixed(2)} (target >= 0.5)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
