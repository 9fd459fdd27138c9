// A real local cluster for tests: three server processes over loopback WebSockets (mutual TLS by
// default), with their log lines kept so tests can check what was refused and why.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tfe from '../../lib';
import type { ClientOptions } from '../../lib/serve/client';
import type { ServerStatus } from '../../lib/serve/messages';
import { SERVERS } from '../../lib/protocol/party';
import { retryOnFreshPorts, spawnServer, type ServerProcess, tfeCli, waitReady } from '../../lib/serve/local_cluster';

export interface TestCluster {
  config: string;
  dir: string;
  procs: Map<string, ServerProcess>;
  logs: string[];
  /** Starts a (killed) server again. */
  restart(party: string): void;
  /** Waits until all three servers report the same ready epoch. */
  ready(timeoutMs?: number): Promise<string>;
  /**
   * A client of this cluster that stop() closes if the test did not: a failed assertion throws
   * past the test's own close(), and an open client re-dials the stopped servers, keeping the
   * worker alive until ava's timeout.
   */
  connect(opts?: ClientOptions): Promise<tfe.PredictionClient>;
  stop(): Promise<void>;
}

/**
 * Three server processes on loopback; `extra`: more cluster.json fields (limits, ...); `edit`:
 * changes to the written config (its parties' hosts, say), applied each time it is written.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function startCluster(opts: { tls?: boolean; queryTimeoutMs?: number; extra?: Record<string, unknown>; edit?: (config: Record<string, any>) => void } = {}): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cluster-'));
  const configOpts = { tls: opts.tls ?? true, queryTimeoutMs: opts.queryTimeoutMs, extra: opts.extra };
  const write = async () => {
    const file = await tfe.writeLocalConfig(dir, configOpts);
    if (opts.edit) {
      const c = JSON.parse(fs.readFileSync(file, 'utf8'));
      opts.edit(c);
      fs.writeFileSync(file, JSON.stringify(c, null, 2));
    }
    return file;
  };
  const config = await write();
  const logs: string[] = [];
  const clients: tfe.PredictionClient[] = [];
  const procs = new Map<string, ServerProcess>();
  const start = (p: string) => procs.set(p, spawnServer(config, p, (l) => logs.push(l)));
  for (const p of SERVERS) start(p);
  let cameUp = false;
  const c: TestCluster = {
    config,
    dir,
    procs,
    logs,
    restart: start,
    // Long enough for a failed first setup (setupTimeoutMs, 30 s) to be retried by server0. A
    // server whose port was taken before it listened (test files run in parallel, each dialing
    // from ephemeral ports) ends at once: the first time, all three start again on fresh ports.
    async ready(timeoutMs = 90_000) {
      for (let attempt = 1; ; attempt++) {
        try {
          const epoch = await waitReady(config, timeoutMs, [...procs.values()]);
          cameUp = true;
          return epoch;
        } catch (e) {
          if (cameUp || !retryOnFreshPorts(e, attempt)) throw e;
          await tfe.stopCluster([...procs.values()]);
          // What the servers that could not listen wrote (their `fatal` EADDRINUSE line, which a
          // test of the cluster's logs would take for the cluster's) goes with them.
          logs.length = 0;
          await write();
          for (const p of SERVERS) start(p);
        }
      }
    },
    async connect(opts) {
      const client = await tfe.PredictionClient.connect(config, opts);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.allSettled(clients.map((cl) => cl.close()));
      await tfe.stopCluster([...procs.values()]);
      fs.rmSync(dir, { recursive: true, force: true });
      // A failure nothing awaited is a server bug whatever the test checks (it used to end the
      // process: tfe server now logs it as internal-error and goes on), so every test fails on one.
      const internal = logs.filter((l) => l.includes('internal error:'));
      if (internal.length) throw new Error(`a server logged ${internal.length} internal error(s): ${internal[0].slice(0, 2000)}`);
    },
  };
  return c;
}

/** Resident memory of a process, from /proc (Linux). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** `tfe cluster --local --dir <dir>` as a child process (run from `cwd`), ready to serve. */
export async function startCliCluster(dir: string, cwd?: string): Promise<{ config: string; log: () => string; stop(): Promise<number | null> }> {
  const cluster = spawn(process.execPath, [tfeCli(), 'cluster', '--local', '--dir', cwd ? path.relative(cwd, dir) : dir], { stdio: ['ignore', 'ignore', 'pipe'], cwd });
  let log = '';
  cluster.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => cluster.once('exit', (code) => r(code)));
  const config = path.join(dir, 'cluster.json');
  for (let i = 0; i < 100 && !fs.existsSync(config); i++) await new Promise((r) => setTimeout(r, 100));
  await waitReady(config);
  return { config, log: () => log, stop: () => (cluster.kill('SIGINT'), exited) };
}

/**
 * The servers' status once the offline pool is at rest: server2 has nothing in the making and
 * what the compute servers hold ahead has stopped changing, for four polls in a row (at most
 * 10 s). `operator` must see the counters (the owner's certificate under TLS).
 */
export async function poolSettled(operator: tfe.PredictionClient): Promise<ServerStatus[]> {
  let last = '';
  for (let same = 0, i = 0; same < 4 && i < 400; i++) {
    const st = await operator.status();
    // Live tensors too: a message the pool is taking in is a tensor before it is a held message
    // (service_e2e's live-tensor check once read one tensor more than held messages on server0).
    const now = st.map((s) => `${s.pool?.making ?? 0}/${s.prefetched?.messages}/${s.liveTensors}`).join();
    same = now === last && (st[2].pool?.making ?? 0) === 0 ? same + 1 : 0;
    last = now;
    await new Promise((r) => setTimeout(r, 25));
  }
  return operator.status();
}

/**
 * One cluster for a whole test file: started before its tests (and ready), stopped after them
 * even when one fails. Returns the cluster; the hooks are registered on `t` (ava's test).
 */
export function clusterForFile(t: { before: (f: () => Promise<void>) => void; after: { always: (f: () => Promise<void>) => void } }): () => TestCluster {
  let cluster: TestCluster | undefined;
  t.before(async () => {
    cluster = await startCluster();
    await cluster.ready();
  });
  t.after.always(async () => cluster?.stop());
  return () => {
    if (!cluster) throw new Error('the cluster has not started');
    return cluster;
  };
}
