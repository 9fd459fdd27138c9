// `tfe undeploy` on one server: the model removed here, with everything held for it (its masks in
// the current setup and in one a renewal replaced, its pool reservations and leases, its stored
// shares), or refused while a query or deploy uses it. Each server runs the client's request alike.
import type { PartyName } from '../net/transport';
import { SERVER0, SERVER2 } from '../protocol/party';
import { checkOwner } from './access';
import type { UndeployRequest } from './messages';
import type { RequestPairing } from './pairing';
import type { QueryRunHost, RunningQuery } from './query_run';

export type UndeployHost = Pick<QueryRunHost, 'me' | 'config' | 'endpoint' | 'log' | 'models' | 'store' | 'leases' | 'reservations' | 'setup'> & {
  /** Deploys running here. */
  deployingNow: ReadonlySet<string>;
  running: ReadonlyMap<string, RunningQuery>;
  pending: RequestPairing;
  /** Drops a request waiting for its other half, telling its client why. */
  dropWaiting(session: string, why: string): void;
};

/** Removes a model here (true) or says it was not here (false); throws, saying why, while it is in use or for a client that may not. */
export function undeployHere(h: UndeployHost, req: UndeployRequest, peer: PartyName): boolean {
  checkOwner(h.config, h.endpoint, peer, 'undeploy');
  // Being deployed: running, or still waiting for server0's go-ahead (a client's undeploy can
  // arrive while this server's half of the deploy has not started yet).
  const waiting = h.pending.someClient((c) => c.req.type === 'deploy' && c.req.model === req.model);
  if (h.deployingNow.has(req.model) || waiting) throw new Error(`model '${req.model}' is being deployed; retry when that finishes`);
  const busy = [...h.running.values()].filter((r) => r.model === req.model).length;
  if (busy) throw new Error(`model '${req.model}' has ${busy} queries in flight; retry when they finish`);
  // A prediction asked of this server (server1, server2) and waiting for server0's go-ahead would
  // find the model gone mid-query: it is dropped, its client told. Not refused instead: anyone
  // may leave such a request waiting here, and a refusal then kept the model on this server
  // alone. server0 refuses the undeploy while its query runs, so none such has started.
  for (const session of [...h.pending.sessions()]) {
    const waiting = h.pending.get(session)?.client?.req;
    if (waiting?.type === 'predict' && waiting.model === req.model) h.dropWaiting(session, `model '${req.model}' is being undeployed`);
  }
  // From the disk first: a removal that fails there (EPERM, a read-only remount) refuses the
  // undeploy and leaves the model served, instead of unloading it until a restart brings it back.
  const stored = h.store.remove(req.model);
  const m = h.models.get(req.model);
  h.models.delete(req.model);
  // Its leases go on every server (each runs the undeploy): a model deployed again under the
  // name has other masks than those their recordings were dealt for.
  h.leases.book.voidModel(req.model);
  // server0: what server2 shipped ahead for the model's reserved indices is freed everywhere,
  // the current setup's and those a renewed one still holds.
  const epoch = h.setup.current, previous = h.setup.previous;
  if (h.me === SERVER0) for (const e of [previous, epoch]) if (e) h.reservations.unreserveModel(e, req.model);
  previous?.removeModel(req.model, h.me !== SERVER2);
  epoch?.removeModel(req.model, h.me !== SERVER2);
  for (const s of m?.shares ?? []) s?.dispose();
  if (m || stored) h.log(`undeployed model '${req.model}'`, 'model-undeployed', { model: req.model });
  return !!m || stored;
}
