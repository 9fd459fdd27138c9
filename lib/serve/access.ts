// Who may change the models and who sees the operator's status. Under TLS (a CA or pins) that is
// the client presenting the model owner's certificate; in plain mode any local client, since plain
// ws is loopback-only unless `insecure` lets other hosts in. A browser page never is: a page from
// an allowed origin is not local, whatever its host.
import type { PartyName } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import { type ClusterConfig, usesTls } from './config';

/** The identity (certificate CN) of the model owner's client. */
export const OWNER = 'model-owner';

/** Throws unless `peer` may `what` (deploy, undeploy) the models. */
export function checkOwner(config: ClusterConfig, endpoint: WsEndpoint, peer: PartyName, what: string): void {
  if (endpoint.fromPage(peer)) throw new Error(`${what} is not allowed from a browser page`);
  if (usesTls(config) && endpoint.identityOf(peer) !== OWNER) throw new Error(`${what} needs the model owner's certificate`);
}

/** Whether `peer` is the operator: it sees the counters, memory and limits in status. */
export function isOperator(config: ClusterConfig, endpoint: WsEndpoint, peer: PartyName): boolean {
  if (endpoint.fromPage(peer)) return false;
  return usesTls(config) ? endpoint.identityOf(peer) === OWNER : !config.insecure;
}
