// Terminal manners for `tfe`: colour only on a terminal (and never with NO_COLOR), progress only
// on a terminal, a closed pipe (`tfe ... | head`) ends the command quietly, and the package's
// version.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import type { ClusterConfig } from '../serve/config';
import { SERVERS } from '../protocol/party';

/** Colours text for `stream` when it is a terminal and NO_COLOR is unset; plain text otherwise. */
export function paint(stream: NodeJS.WriteStream, code: 'yellow' | 'red' | 'green' | 'dim', text: string): string {
  if (!stream.isTTY || process.env.NO_COLOR !== undefined || process.env.TERM === 'dumb') return text;
  const n = { yellow: 33, red: 31, green: 32, dim: 2 }[code];
  return `\x1b[${n}m${text}\x1b[0m`;
}

/** A one-line progress counter on stderr, drawn only when stderr is a terminal (and `enabled`). */
export function progress(label: string, enabled = true): { update(done?: number, total?: number): void; end(): void } {
  const tty = enabled && process.stderr.isTTY === true;
  let drawn = false;
  return {
    update(done, total) {
      if (!tty) return;
      process.stderr.write(done === undefined ? `\r${label}` : `\r${label} ${done}/${total}`);
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/**
 * A reader that closed its end of stdout (`| head`) ends the command quietly, with status 0;
 * unless `serving` (a server, a local cluster), which goes on without that stream's lines: a
 * server whose log reader went away used to exit 0 at its next line, its queries dropped and no
 * supervisor restarting it.
 */
export function quietOnEpipe(serving = false): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      if (!serving) process.exit(0);
    });
}

/** The version in the package's package.json (dist/lib/cli -> the package root). */
export function packageVersion(): string {
  for (const dir of [path.join(__dirname, '..', '..', '..'), path.join(__dirname, '..', '..')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tfjs-encrypted' && pkg.version) return pkg.version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
}

/**
 * Refuses a missing cluster config with how to make one: the local cluster's when `file` is the
 * default (.tfe-local/cluster.json), else the path as given and in full (a production host's
 * operator mistyped it: a local cluster is the wrong advice there).
 */
export function requireConfig(file: string): void {
  const full = path.resolve(file);
  if (fs.existsSync(file)) {
    if (fs.statSync(file).isDirectory()) throw new Error(`the cluster config ${full} is a directory: --config takes the cluster.json file${fs.existsSync(path.join(file, 'cluster.json')) ? ` (${path.join(full, 'cluster.json')}?)` : ''}`);
    return;
  }
  if (path.normalize(file) === path.join('.tfe-local', 'cluster.json'))
    throw new Error(
      `no cluster config at ${file}: start a local cluster with 'tfe cluster --local' (it writes .tfe-local/cluster.json and keeps the three servers running), ` +
        `or pass --config <file> with your cluster's config (its format: docs/service.md)`,
    );
  throw new Error(`no cluster config at ${full} (--config ${file}): check the path; 'tfe cluster --init' writes one for a host (docs/operators.md)`);
}

/** Whether something listens at each server's client address: `down` says why not. */
export interface ServerProbe {
  party: string;
  address: string;
  down?: string;
}

/** Probes every server's client address in parallel, each within `timeoutMs`. */
export async function probeServers(config: ClusterConfig, timeoutMs = 3000): Promise<ServerProbe[]> {
  return Promise.all(
    SERVERS.map((s) => {
      const p = config.parties[s as 'server0'];
      const host = p.host === '0.0.0.0' ? '127.0.0.1' : p.host;
      const address = `${host.includes(':') ? `[${host}]` : host}:${p.port}`;
      return new Promise<ServerProbe>((resolve) => {
        const sock = net.connect({ host, port: p.port });
        const done = (why: string | null) => {
          clearTimeout(timer);
          sock.destroy();
          resolve(why === null ? { party: s, address } : { party: s, address, down: why });
        };
        const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
        sock.once('connect', () => done(null));
        sock.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? e.message));
      });
    }),
  );
}

/** The error for servers found down, with a hint for a local cluster or for separate hosts. */
export function unreachableError(probes: readonly ServerProbe[], local: boolean): Error {
  const down = probes.filter((p) => p.down).map((p) => `${p.party} at ${p.address} (${p.down})`);
  const hint = local ? 'tfe cluster --local starts one' : 'tfe server --party <name> on its host; check the addresses in the config';
  return new Error(`cannot reach the cluster: ${down.join(', ')}; is it running? (${hint})`);
}

/**
 * Checks that something listens at each server's client address, in parallel and within
 * `timeoutMs`: a cluster that is down fails at once, naming every address tried, instead of
 * after the client's connect timeout. `local`: the config is a local cluster's.
 */
export async function probeCluster(config: ClusterConfig, local = false, timeoutMs = 3000): Promise<void> {
  const probes = await probeServers(config, timeoutMs);
  if (probes.some((p) => p.down)) throw unreachableError(probes, local);
}
