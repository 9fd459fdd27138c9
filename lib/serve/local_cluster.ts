// A local cluster: a config with throwaway certificates and free loopback ports, and the three
// servers started as separate processes (`tfe server --party ...`). Used by `tfe cluster --local`,
// `npm start`, the end-to-end tests and the service benchmark.
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { SERVERS } from '../protocol/party';
import { PredictionClient } from './client';
import { loadClusterConfig } from './config';
import { STOP_GRACE_MS } from './limits';
import { SERVER_NODE_FLAGS } from './node_flags';
import { generateCertificates } from './certs';
import { EXPIRY_WARN_DAYS } from './provision_tls';

// A local cluster's certificates are made again at every start, so their lifetime only has to
// outlast one run; it is longer than the expiry warning's horizon so that servers and `tfe status`
// do not tell the operator of a cluster started a minute ago to rotate them.
const LOCAL_CERT_DAYS = 3 * EXPIRY_WARN_DAYS;

/** Ports the OS reports free now (a tiny race with other programs is accepted for local use). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface LocalConfigOptions {
  /** Mutual TLS with generated certificates (default); false: plain ws on loopback. */
  tls?: boolean;
  queryTimeoutMs?: number;
  ports?: number[];
  /** Extra cluster.json fields (limits, precomputePool, ...). */
  extra?: Record<string, unknown>;
}

/** Writes a fresh random cluster secret to <dir>/cluster.secret (0600); returns its relative path. */
function writeClusterSecret(dir: string): string {
  const file = path.join(dir, 'cluster.secret');
  fs.writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return 'cluster.secret';
}

/** Writes <dir>/cluster.json (and <dir>/certs/) for three servers on loopback; returns its path. */
export async function writeLocalConfig(dir: string, opts: LocalConfigOptions = {}): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const tls = opts.tls ?? true;
  // Under TLS each server also takes its links' lanes on a port of its own (lib/net/lane.ts),
  // chosen here with the others: an ephemeral one bound at start could take a port just chosen
  // for a server that has not started yet.
  const picked = await freePorts(opts.ports ? 3 : 6);
  const ports = opts.ports ?? picked.slice(3);
  const lanePorts = picked.filter((p) => !ports.includes(p)).slice(0, 3);
  const certs = tls ? generateCertificates(path.join(dir, 'certs'), [...SERVERS, 'model-owner'], LOCAL_CERT_DAYS) : undefined;
  const rel = (f: string) => path.join('certs', f);
  const config = {
    ...(certs ? { ca: rel(certs.ca), owner: { cert: rel(certs.certs['model-owner'].cert), key: rel(certs.certs['model-owner'].key) } } : {}),
    parties: Object.fromEntries(SERVERS.map((s, i) => [s, {
      host: '127.0.0.1',
      port: ports[i],
      ...(certs ? { cert: rel(certs.certs[s].cert), key: rel(certs.certs[s].key), ...(lanePorts.length === 3 ? { lanePort: lanePorts[i] } : {}) } : {}),
    }])),
    dataDir: 'data',
    ...(tls ? {} : { clusterSecret: writeClusterSecret(dir) }),
    ...(opts.queryTimeoutMs ? { queryTimeoutMs: opts.queryTimeoutMs } : {}),
    ...opts.extra,
  };
  const file = path.join(dir, 'cluster.json');
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

export interface ServerProcess {
  party: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
  /** Its last output lines (at most RECENT_LINES), to say why it ended. */
  recent: string[];
}

const RECENT_LINES = 20;

/** The tfe CLI next to this file (compiled). */
export function tfeCli(): string {
  return path.join(__dirname, '..', 'cli', 'tfe.js');
}

/** Starts one server process; its output lines go to `onLine`, prefixed by the party. */
export function spawnServer(configFile: string, party: string, onLine: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): ServerProcess {
  // Few malloc arenas: kernels run on many threads, and per-thread arenas make a long-running
  // server's resident memory creep up with fragmentation rather than use.
  const env = { MALLOC_ARENA_MAX: '2', ...process.env };
  // The IPC channel lets a server notice when the process that started it dies (even by SIGKILL)
  // and shut down, instead of lingering as an orphan.
  // Node flags for the server processes only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile
  // a benchmark's servers (NODE_OPTIONS refuses --cpu-prof, and would reach the client too).
  // SERVER_NODE_FLAGS first (node_flags.ts says why), then these, which may override them.
  const nodeArgs = (process.env.TFE_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...nodeArgs, tfeCli(), 'server', '--party', party, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
  const recent: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      // Text lines name their party already, and so do JSON lines (log.format json): the rest get it.
      for (const l of lines) {
        if (recent.push(l) > RECENT_LINES) recent.shift();
        onLine(l.startsWith('[tfe') || l.startsWith('{"time"') ? l : `[tfe ${party}] ${l}`);
      }
    });
  }
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { party, child, exited, recent };
}

/** Starts the three servers as separate processes. */
export function spawnCluster(configFile: string, onLine?: (line: string) => void): ServerProcess[] {
  return SERVERS.map((s) => spawnServer(configFile, s, onLine));
}

/**
 * SIGTERM to every server, then waits: SIGKILL after `graceMs`, by default a little past a
 * server's own grace for its queries in flight (it was 10 s, and cut those queries off at 10 s).
 */
export async function stopCluster(procs: readonly ServerProcess[], graceMs = STOP_GRACE_MS + 5_000): Promise<void> {
  await Promise.all(procs.map(async (p) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGTERM');
    const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(t);
  }));
}

/** A server process ended before the cluster came up: its party, exit code and last words. */
export class ServerExitedError extends Error {
  constructor(readonly party: string, readonly code: number | string, readonly lastLines: readonly string[]) {
    super(`${party} exited (${code}) before the cluster came up${lastLines.length ? `: ${lastLines.slice(-3).join(' | ')}` : ''}`);
  }

  /**
   * Whether it could not listen because its port was taken: freePorts' ports are free when
   * chosen, and any program on the machine may bind or dial from one before the server listens.
   */
  get portTaken(): boolean {
    return this.lastLines.some((l) => l.includes('EADDRINUSE'));
  }
}

function exitedServer(procs: readonly ServerProcess[]): ServerExitedError | undefined {
  const p = procs.find((q) => q.child.exitCode !== null || q.child.signalCode !== null);
  return p && new ServerExitedError(p.party, p.child.exitCode ?? p.child.signalCode ?? -1, p.recent);
}

/**
 * Waits until all three servers report the same set-up epoch; returns it. Given the server
 * processes, fails at once (ServerExitedError) when one of them has ended, rather than waiting
 * out the timeout.
 */
// The default outlasts one failed setup (setupTimeoutMs, 30 s by default) and server0's retry.
export async function waitReady(configFile: string, timeoutMs = 90_000, procs: readonly ServerProcess[] = []): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    const gone = exitedServer(procs);
    if (gone) throw gone;
    try {
      // The epoch is an operator's counter: under TLS, ask with the owner's certificate.
      const client = await PredictionClient.connect(configFile, { connectTimeoutMs: 1000, asOwner: !!loadClusterConfig(configFile).owner });
      try {
        const st = await client.status();
        if (st.every((s) => s.epoch && s.epoch === st[0].epoch && s.ready)) return st[0].epoch!;
        last = JSON.stringify(st.map((s) => ({ party: s.party, epoch: s.epoch, ready: s.ready })));
      } finally {
        await client.close();
      }
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`the cluster did not come up in ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many times a local cluster is started on fresh ports when one was taken meanwhile. */
export const PORT_ATTEMPTS = 4;

/** Whether attempt `attempt` failed only because a port was taken, and another may follow. */
export function retryOnFreshPorts(e: unknown, attempt: number): boolean {
  return e instanceof ServerExitedError && e.portTaken && attempt < PORT_ATTEMPTS;
}

export interface LocalClusterOptions extends LocalConfigOptions {
  /** Each server output line (default: to stderr). */
  onLine?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface LocalCluster {
  config: string;
  procs: ServerProcess[];
}

/**
 * Writes a local config into `dir`, starts the three servers and waits until they are ready. When
 * a server cannot listen because its port was taken between freePorts and its start, all three
 * are stopped and started again on fresh ports (up to PORT_ATTEMPTS in all; never with
 * `opts.ports`, which the caller chose).
 */
export function startLocalCluster(dir: string, opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  return startLocalClusterOn(dir, opts, opts.ports ? undefined : () => freePorts(3));
}

/** The local cluster's server processes, by pid, in its folder: another start there refuses. */
const SERVER_PIDS = 'servers.pid';

/**
 * Refuses to start a local cluster in a folder whose servers still run: its config and
 * certificates would be rewritten under them (they reloaded the new TLS material) and both
 * clusters would share one model store (an undeploy on one deleted the other's files).
 */
/** Throws when a local cluster started in `dir` still runs (its servers.pid names live tfe servers of its config). */
export function refuseIfRunning(dir: string): void {
  let pids: number[];
  try {
    pids = fs.readFileSync(path.join(dir, SERVER_PIDS), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return;
  }
  const running = pids.filter((pid) => {
    try {
      // A tfe server of this folder's config, not a process that took a freed pid since.
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes(path.join(dir, 'cluster.json')) || cmd.includes(path.resolve(dir, 'cluster.json'));
    } catch {
      return false;
    }
  });
  if (running.length) throw new Error(`a local cluster is running in ${dir} (server pids ${running.join(', ')}): stop it first, or use another --dir`);
}

/** startLocalCluster with the ports of each attempt from `pick` (none: opts.ports, once). */
export async function startLocalClusterOn(dir: string, opts: LocalClusterOptions, pick?: (attempt: number) => Promise<number[]>): Promise<LocalCluster> {
  refuseIfRunning(dir);
  for (let attempt = 1; ; attempt++) {
    const config = await writeLocalConfig(dir, { ...opts, ports: pick ? await pick(attempt) : opts.ports });
    const procs = spawnCluster(config, opts.onLine);
    fs.writeFileSync(path.join(dir, SERVER_PIDS), `${procs.map((p) => p.child.pid).join('\n')}\n`);
    try {
      await waitReady(config, opts.readyTimeoutMs, procs);
      return { config, procs };
    } catch (e) {
      await stopCluster(procs);
      if (!pick || !retryOnFreshPorts(e, attempt)) throw e;
    }
  }
}
