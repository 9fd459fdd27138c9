// A hostile client for the service tests: a raw endpoint that sends whatever it likes (requests
// with no input, seeds declaring any shape, aborts of sessions it does not own), a local cluster
// with chosen limits, and silent servers that accept connections and never answer.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as tfe from '../../lib';
import { REQUEST_KEY, WsEndpoint } from '../../lib/net/ws_endpoint';
import { WebSocketTransport } from '../../lib/net/ws_transport';
import { type ClusterConfig, parseClusterConfig } from '../../lib/serve/config';
import { CLIENT, inputOp, nextMaskTag, OUTPUT_OP } from '../../lib/serve/programs';
import { Party, SERVERS, tag, type OpCtx } from '../../lib/protocol/party';
import { output, shareInput } from '../../lib/protocol/pond/share';
import { receiveNextMask } from '../../lib/serve/input_mask';
import type { RingTensor } from '../../lib/tensor/ring_tensor';
import type { Payload, Received } from '../../lib/net/transport';
import type { Response } from '../../lib/serve/messages';
import { startCluster, type TestCluster } from './service';

/** A TLS cluster of three processes whose cluster.json carries `extra` fields (limits). */
export function startLimitedCluster(extra: Record<string, unknown>): Promise<TestCluster> {
  return startCluster({ tls: true, extra });
}

/**
 * Runs `body` on a fresh limited cluster, set up and with an operator (owner) connection, and
 * stops both afterwards whatever happens.
 */
export async function withOwnerCluster(extra: Record<string, unknown>, body: (c: TestCluster, owner: tfe.PredictionClient) => Promise<void>): Promise<void> {
  const c = await startLimitedCluster(extra);
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    try {
      await body(c, owner);
    } finally {
      await owner.close();
    }
  } finally {
    await c.stop();
  }
}

/** A raw client connection to all three servers (the owner's certificate when `owner`). */
export async function rawClient(c: TestCluster, owner = false, localAddress?: string): Promise<WsEndpoint> {
  const cfg = tfe.loadClusterConfig(c.config);
  const pem = (f: string) => fs.readFileSync(path.join(c.dir, f));
  const tls = { ca: pem(cfg.ca!), ...(owner ? { cert: pem(cfg.owner!.cert!), key: pem(cfg.owner!.key!) } : {}) };
  const ep = new WsEndpoint({ me: CLIENT, tls, log: () => undefined });
  await Promise.all(SERVERS.map((s) => ep.connect({ name: s, host: '127.0.0.1', port: cfg.parties[s as 'server0'].port, ...(localAddress ? { localAddress } : {}) }, { asClient: true })));
  return ep;
}

/** Sends a request to `to` and resolves with its answer (or the reason the link closed). */
export async function ask(ep: WsEndpoint, to: readonly string[], session: string, request: unknown, timeoutMs = 20_000): Promise<Response[]> {
  const answers = to.map((s) => ep.recv(s, session, 'res').then(
    (p: Received) => (p.kind === 'control' ? (p.data as Response) : { ok: false as const, error: 'malformed' }),
    (e: Error) => ({ ok: false as const, error: `no answer: ${e.message}` }),
  ));
  await Promise.all(to.map((s) => ep.send(s, session, REQUEST_KEY, { kind: 'control', data: request })));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(request).slice(0, 80)} in ${timeoutMs} ms`)), timeoutMs)));
  try {
    return await Promise.race([Promise.all(answers), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `payload` as the client's input `op` of a session (as shareInput would, but anything). */
export function sendInput(ep: WsEndpoint, session: string, to: string, op: OpCtx, payload: Payload): Promise<void> {
  const transport = new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), session);
  return transport.send(CLIENT, to, tag(op, 'input'), payload);
}

/** Three endpoints that accept client connections and never answer; a config naming them. */
export async function silentServers(): Promise<{ config: ClusterConfig; close: () => Promise<void> }> {
  const eps = SERVERS.map((s) => new WsEndpoint({ me: s, log: () => undefined }));
  await Promise.all(eps.map((e) => e.start([])));
  const parties = Object.fromEntries(SERVERS.map((s, i) => [s, { host: '127.0.0.1', port: eps[i].port }]));
  return { config: parseClusterConfig({ parties }), close: async () => void (await Promise.all(eps.map((e) => e.close()))) };
}

/** Polls `cond` until it holds (throws naming `what` after `ms`). */
export async function until(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A plain batch-1 query on `model` to all three servers that takes the next query's lease with
 * its input mask (leaseNext), as PredictionClient's first query does: the answers, the output
 * and the mask (undefined when a server sent none).
 */
export async function queryTakingLease(ep: WsEndpoint, model: string, x: RingTensor, fracBits: number): Promise<{ answers: Response[]; y: RingTensor | undefined; mask: RingTensor | undefined }> {
  const session = randomUUID();
  const party = new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), session), { fracBits, truncation: 'local' });
  const [answers, , y, mask] = await Promise.all([
    ask(ep, SERVERS, session, { type: 'predict', model, shape: x.shape, leaseNext: true }),
    shareInput(party, inputOp(0), CLIENT, x),
    output(party, OUTPUT_OP, null, CLIENT),
    receiveNextMask(party, nextMaskTag(), x.shape),
  ]);
  return { answers, y: y ?? undefined, mask };
}
