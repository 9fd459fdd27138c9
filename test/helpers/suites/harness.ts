// What every protocol suite shares: one fresh cluster per test (ava runs a file's tests
// concurrently, so nothing relies on the default cluster), inputs, outputs, and what differs
// between protocols.
import * as tfe from '../../../lib';
import { PROTOCOL_TRAITS, PROTOCOLS } from '../../../lib/protocol/protocols';
import { F } from '../fixed';

export type Protocol = tfe.ProtocolName;

/** Where protocols legitimately differ; everything else in the suites is shared. */
export interface Traits {
  /** relu is exact (SecureNN: x * DReLU(x)) rather than Pond's degree-2 polynomial. */
  exactRelu: boolean;
  /** server2 takes part online (SecureNN's comparisons), receiving blinded values. */
  server2Online: boolean;
}

/** The library's own traits: a new protocol's suite gets its traits with its name. */
export const TRAITS = Object.fromEntries(PROTOCOLS.map((p) => [p, { exactRelu: PROTOCOL_TRAITS[p].exact, server2Online: PROTOCOL_TRAITS[p].server2Online }])) as Record<Protocol, Traits>;

// The device every cluster of this test file runs on: the suite files pin 'cpu', and
// cuda_suite.test.ts reruns the same suites with 'cuda' (protocol x device).
let suiteDevice: tfe.DeviceOption = 'cpu';
export function setSuiteDevice(device: tfe.DeviceOption): void {
  suiteDevice = device;
}

// Cluster options every cluster of this test file starts from (a suite file rerunning the suites
// under one FSS gate form, say); a test's own options override them.
let suiteOptions: tfe.ClusterOptions = {};
export function setSuiteClusterOptions(opts: tfe.ClusterOptions): void {
  suiteOptions = { ...opts };
}

export function newCluster(protocol: Protocol, opts: tfe.ClusterOptions = {}): tfe.Cluster {
  return new tfe.Cluster({ protocol, fixedPoint: { fracBits: F }, device: suiteDevice, ...suiteOptions, ...opts });
}

/** Runs body on a fresh cluster and closes it even when an assertion throws. */
export async function withCluster(protocol: Protocol, body: (c: tfe.Cluster) => Promise<void>, opts: tfe.ClusterOptions = {}): Promise<void> {
  const c = newCluster(protocol, opts);
  try {
    await body(c);
  } finally {
    await c.close();
  }
}

export const priv = (c: tfe.Cluster, data: ArrayLike<number>, shape: readonly number[], player = 'input-provider'): tfe.PrivateTensor =>
  tfe.definePrivateInput(player, () => ({ data, shape }), c);

export const pub = (c: tfe.Cluster, data: ArrayLike<number>, shape: readonly number[], player = 'input-provider'): tfe.PublicTensor =>
  tfe.definePublicInput(player, () => ({ data, shape }), c);

/** Decoded value of any tensor, delivered to 'output-receiver'. */
export async function open(x: tfe.AnyTensor): Promise<Float64Array> {
  return (await tfe.defineOutput('output-receiver', x)).data;
}

/** Waits for a private or public tensor's parts on every party. */
export async function ready(...xs: tfe.AnyTensor[]): Promise<void> {
  await Promise.all(xs.map((x) => (x.kind === 'private' ? x.shares : x.values)));
}
