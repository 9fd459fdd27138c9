// The default in-process cluster and the protocol choice.
import { Cluster, type ClusterOptions } from '../protocol/cluster';
import { checkProtocol, DEFAULT_PROTOCOL, type ProtocolName } from '../protocol/protocols';

export type { ProtocolName } from '../protocol/protocols';

let current: Cluster | undefined;
// Exact by default: Pond's relu is a polynomial on [-4, 4] and gives wrong answers on ordinary
// ReLU models; SecureNN runs every Pond op and makes the comparisons exact.
let protocol: ProtocolName = DEFAULT_PROTOCOL;

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
 * Selects the protocol of the default cluster (getCluster(), the one ops without a cluster use;
 * already started or made later, by local() too). A `new Cluster()` given no protocol runs
 * 'securenn' regardless. A model loaded on the default cluster keeps checking, at each predict,
 * that the protocol can still run it (loadLayersModel). The protocols:
 * 'securenn' (the default: Pond plus exact comparisons with server2 as helper: exact relu,
 * maxPool2d, reduceMax, argmax, less...), 'fss' (the same exact ops by function secret sharing:
 * server2 deals DCF keys offline, one online round per comparison) or 'pond' (fewer rounds,
 * polynomial activations). A cluster can also be given
 * `{ protocol }` when created.
 */
export function setProtocol(name: ProtocolName): void {
  protocol = checkProtocol(name, 'setProtocol');
  if (current) current.protocol = name;
}

export function getProtocol(): ProtocolName {
  return protocol;
}
