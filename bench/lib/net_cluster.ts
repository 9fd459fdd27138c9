// Routes a local cluster's links through the emulating proxy (bench/lib/net_proxy.ts): each
// server binds 127.0.0.2:<port> (parties.<s>.listen) while its peers and the clients dial
// 127.0.0.1:<port> (parties.<s>.host), where a proxy forwards to it with the set delay and rate.
// Every inter-party link (server<->server, client<->server) thus crosses one proxy, and so does
// each server link's lane (lib/net/lane.ts): each server takes a fixed lane port, proxied the same way.
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { freePorts } from '../../lib/serve/local_cluster';
import { type LinkSetting, NETS, type ProxyCheck, type Route } from './net_proxy';

const SERVER_BIND = '127.0.0.2';

/** --net lan|wan or --rtt MS --rate MBIT (both needed), or undefined when neither is given. */
export function parseNetArgs(argv: readonly string[]): (LinkSetting & { name: string }) | undefined {
  const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
  const netName = arg('--net'), rtt = arg('--rtt'), rate = arg('--rate');
  if (netName !== undefined) {
    if (!NETS[netName]) throw new Error(`--net must be one of ${Object.keys(NETS).join(', ')}, got ${JSON.stringify(netName)}`);
    if (rtt !== undefined || rate !== undefined) throw new Error('give --net or --rtt/--rate, not both');
    return { name: netName, ...NETS[netName] };
  }
  if (rtt === undefined && rate === undefined) return undefined;
  const rttMs = Number(rtt), rateMbit = Number(rate);
  if (!(rttMs >= 0) || !(rateMbit > 0)) throw new Error('--rtt MS --rate MBIT: both are needed, RTT >= 0 ms and rate > 0 Mbit/s');
  return { name: `rtt ${rttMs} ms, ${rateMbit} Mbit/s`, rttMs, rateMbit };
}

export interface EmulatedNetwork { check: ProxyCheck; stop: () => void }

/**
 * Rewrites `configFile` so the servers bind behind proxies, and starts the proxies (a child
 * process). Call it before the servers start: where a port the config names was taken by another
 * program since it was picked (EADDRINUSE as the proxy listens), every party gets fresh ports and
 * the proxies start again, up to three times.
 */
export async function emulateNetwork(configFile: string, setting: LinkSetting): Promise<EmulatedNetwork> {
  for (let attempt = 1; ; attempt++) {
    const c = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { parties: Record<string, { host: string; port: number; listen?: string; lanePort?: number }> };
    const routes: Route[] = [];
    for (const p of Object.values(c.parties)) {
      if (attempt > 1) [p.port] = await freePorts(1);
      p.listen = SERVER_BIND;
      routes.push({ listenHost: p.host, listenPort: p.port, targetHost: SERVER_BIND, targetPort: p.port });
      [p.lanePort] = await freePorts(1);
      routes.push({ listenHost: p.host, listenPort: p.lanePort, targetHost: SERVER_BIND, targetPort: p.lanePort });
    }
    fs.writeFileSync(configFile, `${JSON.stringify(c, null, 2)}\n`);
    const child: ChildProcess = fork(path.join(__dirname, 'net_proxy.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const got = await new Promise<{ check: ProxyCheck } | { taken: string }>((resolve, reject) => {
      child.once('message', (m: { check: ProxyCheck } | { taken: string }) => resolve(m));
      child.once('exit', (code) => reject(new Error(`the network proxy exited (${code})`)));
      child.send({ routes, setting });
    });
    if ('check' in got) return { check: got.check, stop: () => void child.kill() };
    child.kill();
    if (attempt === 3) throw new Error(`the network proxy could not listen three times: ${got.taken}`);
  }
}

export function describeCheck(name: string, k: ProxyCheck): string {
  return `network ${name}: proxy set to RTT ${k.setting.rttMs} ms, ${k.setting.rateMbit} Mbit/s; measured RTT added ${k.rttMsAdded.toFixed(3)} ms (ping-pong ${k.rttMsProxied.toFixed(3)} ms through it, ${k.rttMsDirect.toFixed(3)} ms direct), bulk rate ${k.rateMbitMeasured.toFixed(0)} Mbit/s over ${(k.bulkBytes / 2 ** 20).toFixed(1)} MiB`;
}
