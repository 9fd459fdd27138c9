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
  current = new Cluster(opts);
  void old?.close();
  return current;
}

export function getCluster(): Cluster {
  return (current ??= new Cluster());
}

/** Selects the protocol for later ops. Pond now; SecureNN arrives with its issue. */
export function setProtocol(name: ProtocolName): void {
  if (name !== 'pond') {
    if (name === 'securenn') throw new Error("setProtocol: 'securenn' is not available yet; use 'pond'");
    throw new TypeError(`setProtocol: unknown protocol ${JSON.stringify(name)} (expected 'pond')`);
  }
  protocol = name;
}

export function getProtocol(): ProtocolName {
  return protocol;
}
