// A local cluster for browser clients: the three servers on loopback with the page's origins in
// allowedOrigins, and the MNIST model of the README's quick start deployed by the model owner
// (a Node process: deploying stays with the owner, the page only predicts). Used by
// `npm run demo:web` and the browser tests.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PredictionClient } from '../../lib/serve/client';
import { loadClusterConfig } from '../../lib/serve/config';
import { type ServerProcess, startLocalCluster, stopCluster } from '../../lib/serve/local_cluster';

export const ROOT = path.join(__dirname, '..', '..', '..');
/** The Pond variant of model A, as examples/mnist-service.ts (`npm start`) deploys it. */
export const MODEL = path.join(ROOT, 'bench', 'models', 'A_pond', 'model.json');
export const DIGITS = path.join(ROOT, 'bench', 'models', 'sample-digits.json');
export const MODEL_NAME = 'mnist-a';

export interface WebCluster {
  config: string;
  /** The client ports as a browser dials them, server0 first. */
  endpoints: string[];
  fracBits: number;
  procs: Map<string, ServerProcess>;
  stop(): Promise<void>;
}

export interface WebClusterOptions {
  dir: string;
  /** Origins of the pages allowed to connect. */
  allowedOrigins: string[];
  /** Mutual TLS between the servers and wss for clients (default false: plain ws on loopback). */
  tls?: boolean;
  queryTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Starts the servers and deploys MODEL as MODEL_NAME. */
export async function startWebCluster(o: WebClusterOptions): Promise<WebCluster> {
  fs.rmSync(o.dir, { recursive: true, force: true });
  // allowedOrigins is the operator's one change for browsers. Generous: on a loaded machine (CI
  // runs test files in parallel) the servers' set-up is slow.
  const started = await startLocalCluster(o.dir, { tls: o.tls ?? false, queryTimeoutMs: o.queryTimeoutMs, extra: { allowedOrigins: o.allowedOrigins }, onLine: o.log, readyTimeoutMs: 120_000 });
  const config = started.config;
  const c = loadClusterConfig(config);
  const procs = new Map<string, ServerProcess>(started.procs.map((p) => [p.party, p]));
  const stop = () => stopCluster([...procs.values()]);
  try {
    const owner = await PredictionClient.connect(config, { asOwner: true });
    try {
      await owner.deploy(MODEL, { name: MODEL_NAME, protocol: 'pond' });
    } finally {
      await owner.close();
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const scheme = c.ca ? 'wss' : 'ws';
  const endpoints = (['server0', 'server1', 'server2'] as const).map((s) => `${scheme}://127.0.0.1:${c.parties[s].port}`);
  return { config, endpoints, fracBits: c.fracBits, procs, stop };
}
