// The operations fields of cluster.json, `log` and `metrics`, and the listen address of the
// metrics listener (also what `tfe server --metrics` takes):
//   "log": { "format": "text" | "json" }
//   "metrics": { "listen": "127.0.0.1:9464" }                  every server that reads this file
//   "metrics": { "listen": { "server0": "127.0.0.1:9464", ... } }  one per party (a file shared on one host)
// An address is PORT (loopback), HOST:PORT or [IPV6]:PORT; anything else is refused, naming it.
import * as net from 'node:net';

import { checkLogFormat, type LogFormat } from '../log';
import { SERVERS } from '../protocol/party';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface OpsConfig {
  log: { format: LogFormat };
  /** Where each party's metrics and health listener binds; a party not named has none. */
  metrics?: { listen: Partial<Record<'server0' | 'server1' | 'server2', ListenAddress>> };
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const USAGE = 'use PORT (on 127.0.0.1), HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464';

/** Parses a listen address; errors start with `where` and say what was wrong. */
export function parseListenAddress(v: unknown, where: string): ListenAddress {
  if (typeof v !== 'string' || !v) throw new Error(`${where} must be an address to listen on (${USAGE}), got ${JSON.stringify(v)}`);
  const shown = JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
  const m = /^(\d+)$/.exec(v) ?? /^\[([^\]]*)\]:(\d*)$/.exec(v) ?? /^([^:[\]]*):(\d*)$/.exec(v);
  if (!m) throw new Error(`${where}: ${shown} is not an address to listen on: ${USAGE}`);
  const [host, portText] = m.length === 2 ? ['127.0.0.1', m[1]] : [m[1], m[2]];
  if (v.startsWith('[') ? !net.isIPv6(host) : !(net.isIPv4(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host))))
    throw new Error(`${where}: ${JSON.stringify(host)} in ${shown} is not a host name or IP address${v.startsWith('[') ? ' (an IPv6 address in brackets)' : ''}: ${USAGE}`);
  const port = Number(portText);
  if (!portText || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${where}: the port in ${shown} must be an integer in [1, 65535]`);
  return { host, port };
}

/** Whether binding `host` keeps the listener on this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

/** How an address is written back (brackets around IPv6). */
export const showAddress = (a: ListenAddress): string => (net.isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** Reads `log` and `metrics` from a parsed cluster.json object; `fail` throws naming the file. */
export function parseOpsConfig(o: Record<string, unknown>, fail: (msg: string) => never): OpsConfig {
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      return fail((e as Error).message);
    }
  };
  let format: LogFormat = 'text';
  if (o.log !== undefined) {
    const l = o.log as Record<string, unknown>;
    if (!l || typeof l !== 'object' || Array.isArray(l)) fail(`'log' must be an object: { "format": "text" | "json" }`);
    for (const k of Object.keys(l)) if (k !== 'format') fail(`unknown field log.${k} (known: format)`);
    if (l.format !== undefined) format = wrap(() => checkLogFormat(l.format, 'log.format'));
  }
  if (o.metrics === undefined) return { log: { format } };
  const m = o.metrics as Record<string, unknown>;
  if (!m || typeof m !== 'object' || Array.isArray(m)) fail(`'metrics' must be an object: { "listen": "127.0.0.1:9464" } (or "listen": { "server0": ..., ... })`);
  for (const k of Object.keys(m)) if (k !== 'listen') fail(`unknown field metrics.${k} (known: listen)`);
  const listen: NonNullable<OpsConfig['metrics']>['listen'] = {};
  if (typeof m.listen === 'string') {
    const a = wrap(() => parseListenAddress(m.listen, 'metrics.listen'));
    for (const s of SERVERS) listen[s as 'server0'] = a;
  } else if (m.listen && typeof m.listen === 'object' && !Array.isArray(m.listen)) {
    const per = m.listen as Record<string, unknown>;
    for (const k of Object.keys(per)) if (!SERVERS.includes(k)) fail(`unknown party metrics.listen.${k} (expected ${SERVERS.join(', ')})`);
    for (const s of SERVERS) if (per[s] !== undefined) listen[s as 'server0'] = wrap(() => parseListenAddress(per[s], `metrics.listen.${s}`));
    const taken = new Map<string, string>();
    for (const [s, a] of Object.entries(listen)) {
      const other = taken.get(showAddress(a));
      if (other) fail(`metrics.listen.${other} and metrics.listen.${s} are both ${showAddress(a)}: give each server on a host its own port`);
      taken.set(showAddress(a), s);
    }
  } else {
    fail(`metrics.listen must be an address (${USAGE}) or one per party, got ${JSON.stringify(m.listen)}`);
  }
  return { log: { format }, metrics: { listen } };
}
