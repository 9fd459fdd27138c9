// The default in-process cluster and the protocol choice.
import { Cluster, type ClusterOptions } from '../protocol/cluster';

export type ProtocolName = 'pond' | 'securenn';

let current: Cluster | undefined;
let protocol: ProtocolName = 'pond';

/**
 * Starts an in-process cluster (server0, server1, server2 and the players, all in this process)
 * and makes it the default for later ops. With no call, the first op starts one.
 */
export function local(opts: ClusterOptions = {}): Cluster {
  const old = current;
  current = new Cluster({ protocol, ...opts });
  void old?.close();
  return current;
}

export function getCluster(): Cluster {
  return (current ??= new Cluster({ protocol }));
}

/**
 * Selects the protocol of the default cluster and of clusters created afterwards without one:
 * 'pond' (polynomial activations) or 'securenn' (Pond plus exact comparisons with server2 as
 * helper: exact relu, maxPool2d, reduceMax, argmax, less...). A cluster can also be given
 * `{ protocol }` when created.
 */
export function setProtocol(name: ProtocolName): void {
  if (name !== 'pond' && name !== 'securenn')
    throw new TypeError(`setProtocol: unknown protocol ${JSON.stringify(name)} (expected 'pond' or 'securenn')`);
  protocol = name;
  if (current) current.protocol = name;
}

export function getProtocol(): ProtocolName {
  return protocol;
}
