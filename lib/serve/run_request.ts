// One server's part of a client's request once server0 has given it a session index: a prediction
// (the model's layers over the client's shares) or a deploy (the owner's weights shared, masked
// and kept only once all three servers hold them). The server (server.ts) admits, pairs and
// answers; these only compute.
import { type PartyName } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import { WebSocketTransport } from '../net/ws_transport';
import { SERVER2, SERVERS } from '../protocol/party';
import { optionsOf, resolveOptions } from '../protocol/protocol_options';
import type { Epoch } from './epoch';
import type { DeployRequest, PredictRequest } from './messages';
import { type DeployedModel, digestOf, specOf } from './model_store';
import type { Notice } from './pairing';
import { PooledTransport, poolSession } from './pool';
import { agreeGateForm, followsLoad, type LoadForm } from './gate_form';
import type { NextLease } from './input_mask';
import { CLIENT, deployOnServer, freeMaskedWeights, type MaskedWeights, predictOnServer } from './programs';

/** The servers' go-ahead to keep a deployed model (a deploy that failed anywhere is kept nowhere). */
const COMMIT_KEY = 'deploy-commit';

/** The transport of `session` for this server, `client` in the client's seat; pooled: server2's side comes from the pool session. */
export function sessionTransport(me: PartyName, endpoint: WsEndpoint, session: string, client: PartyName, notice: Notice): WebSocketTransport {
  const parties = [...SERVERS, CLIENT], endpoints = new Map([[me, endpoint]]), aliases = new Map([[CLIENT, client]]);
  return notice.pooled
    ? new PooledTransport(parties, endpoints, session, aliases, poolSession(notice.epoch, notice.index))
    : new WebSocketTransport(parties, endpoints, session, aliases);
}

/**
 * This server's part of a prediction of `m` (`nextLease`: the lease its leaseNext took, if any;
 * `early`: rejects when the query ends early, which ends server2's wait for its recording).
 * Returns the output shape (the compute servers) and,
 * for server2 when its side was shipped ahead into the pool, the bytes it had shipped.
 */
export async function predictHere(me: PartyName, epoch: Epoch, m: DeployedModel, notice: Notice, req: PredictRequest, transport: WebSocketTransport, nextLease: () => Promise<NextLease | undefined>, early?: Promise<never>, input?: { awaited: () => void; came: () => void }): Promise<{ outputShape?: number[]; offlineBytes?: number }> {
  const masks = epoch.masks.get(m.name);
  if (!masks) throw new Error(`model '${m.name}' is unavailable: ${epoch.failed.get(m.name) ?? 'it is not set up'}`);
  // server2, pooled: its side was shipped ahead (else it runs now, into the pool session). A
  // query without a pool index waits for server2's dealing whatever the pool holds.
  let form: LoadForm | undefined;
  if (me === SERVER2) {
    const taken = notice.pooled ? await epoch.pool.take(notice.index, req.shape[0], followsLoad(m) ? m.name : undefined, early) : undefined;
    if (taken && 'shipped' in taken) return { offlineBytes: taken.shipped.bytes };
    if (!taken && followsLoad(m)) epoch.pool.pressure.noteQuery(m.name, req.shape[0], true);
    form = taken?.form;
  }
  const fork = epoch.root.fork(transport, notice.index, { protocol: m.protocol, ...optionsOf(m), players: [CLIENT] });
  if (followsLoad(m)) await agreeGateForm(fork, me, me !== SERVER2 ? undefined : form ? { sent: form } : { pick: () => epoch.pool.pressure.pick(m.name, req.shape[0], epoch.pool.near()) });
  return { outputShape: await predictOnServer(fork, me, m.spec, m.shares, masks, req.shape, { index: notice.index, maskedInput: req.maskedInput === true, ...(req.leaseNext ? { leaseNext: nextLease } : {}), input }) };
}

/**
 * This server's part of a deploy: its shares of the weights and their masks in `epoch`, once all
 * three servers have the same model (a deploy that failed anywhere is kept nowhere).
 */
export async function deployHere(me: PartyName, endpoint: WsEndpoint, epoch: Epoch, notice: Notice, session: string, req: DeployRequest, transport: WebSocketTransport): Promise<{ model: DeployedModel; masks: MaskedWeights }> {
  const spec = specOf(req);
  const options = resolveOptions(req.protocol, req, 'deploy');
  const fork = epoch.root.fork(transport, notice.index, { protocol: req.protocol, ...options, players: [CLIENT] });
  const { shares, masks } = await deployOnServer(fork, me, spec);
  const digest = digestOf(req);
  try {
    await commit(me, endpoint, session, digest);
  } catch (e) {
    for (const s of shares) s?.dispose();
    freeMaskedWeights(masks);
    throw e;
  }
  return { model: { name: req.model, protocol: req.protocol, ...options, topology: req.topology, weights: req.weights, spec, digest, shares }, masks };
}

/** Every server has the model's shares and masks: only then does any keep it. */
async function commit(me: PartyName, endpoint: WsEndpoint, session: string, digest: string): Promise<void> {
  const others = SERVERS.filter((s) => s !== me);
  await Promise.all(others.map((s) => endpoint.send(s, session, COMMIT_KEY, { kind: 'control', data: digest })));
  for (const p of await Promise.all(others.map((s) => endpoint.recv(s, session, COMMIT_KEY))))
    if (p.kind !== 'control' || p.data !== digest) throw new Error('the servers received different models');
}
